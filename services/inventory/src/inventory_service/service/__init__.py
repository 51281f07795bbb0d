"""Inventory use cases. Each write is one transaction: the stock change, its ledger rows and its
outbox rows; event handlers run in the transaction the chassis opened for them (`Delivery`).

`stock` serves the admin and storefront routes and the catalog events, `reservations` the order
saga and the expiry job; `statements` holds the SQL both use.
"""

from inventory_service.service.reservations import (
    release_expired,
    reserve_stock,
    settle_reservation,
)
from inventory_service.service.stock import (
    adjust_stock,
    get_available,
    get_stock,
    list_available,
    register_skus,
    set_stock,
)

__all__ = [
    "adjust_stock",
    "get_available",
    "get_stock",
    "list_available",
    "register_skus",
    "release_expired",
    "reserve_stock",
    "set_stock",
    "settle_reservation",
]
