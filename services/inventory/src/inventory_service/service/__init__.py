"""Inventory use cases. Each write is one transaction: the stock change, its ledger rows and its
outbox rows; event handlers run in the transaction the chassis opened for them (`Delivery`).

`stock` serves the admin and storefront routes and the catalog events, `reservations` the order
saga and the expiry job; `stock_levels` and `ledger` hold the statements both use.
"""
