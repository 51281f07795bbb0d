"""Every service owns its own database, but the test suite and tools import them together:
table names must not collide in SQLModel's shared metadata."""

from __future__ import annotations

import importlib

from sqlmodel import SQLModel

SERVICES = ("catalog", "inventory", "payment", "order", "membership", "notification", "analytics")


def test_all_service_tables_load_together() -> None:
    # Importing raises InvalidRequestError when two services define the same table name.
    for service in SERVICES:
        importlib.import_module(f"{service}_service.tables")
    names = {table.name for table in SQLModel.metadata.sorted_tables}
    assert {"products", "stock", "payment_intents", "orders", "order_recipients"} <= names
