"""The inventory service: stock per SKU, reservations for the order saga and the ledger of
every stock movement."""
