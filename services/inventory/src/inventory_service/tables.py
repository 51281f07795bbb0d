"""Inventory tables. Never returned by the API, never published: see schemas.py for those."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, get_args

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from chassis.columns import (
    big_integer,
    check_one_of,
    not_negative,
    surrogate_key,
    table_of,
    utc_timestamp,
)
from inventory_service.domain.lots import AllocationStatus, LotStatus
from inventory_service.domain.reservations import ReservationStatus
from inventory_service.domain.stock import MovementKind
from shared_events.inventory import StorageClass


class StockRow(SQLModel, table=True):
    """One SKU. `available` is not stored: it is always `on_hand - reserved`."""

    __tablename__ = "stock"
    __table_args__ = (
        *not_negative("stock", "on_hand", "reserved"),
        sa.CheckConstraint("reserved <= on_hand", name="ck_stock_reserved_within_on_hand"),
        sa.CheckConstraint("safety_stock >= 0", name="ck_stock_safety_not_negative"),
    )

    sku: str = Field(primary_key=True, max_length=64)
    on_hand: int = 0
    reserved: int = 0
    safety_stock: int = 0
    updated_at: datetime = utc_timestamp()


class ReservationRow(SQLModel, table=True):
    """What one order holds. The order id is the key: an order reserves at most once."""

    __tablename__ = "reservations"
    __table_args__ = (
        check_one_of("reservations", "status", ReservationStatus),
        # The expiry job scans RESERVED rows by deadline.
        sa.Index("ix_reservations_status_expires_at", "status", "expires_at"),
    )

    order_id: str = Field(primary_key=True, max_length=100)
    status: str = Field(max_length=20)
    # Who placed the order: a recall notifies the members who received a recalled lot.
    member_id: str | None = Field(default=None, max_length=100)
    # [{"sku": ..., "quantity": ...}], one entry per SKU, sorted by SKU. Which lots hold the
    # units is in `allocations`.
    lines: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    reason: str | None = Field(default=None, max_length=50)
    expires_at: datetime = utc_timestamp()
    created_at: datetime = utc_timestamp()
    updated_at: datetime = utc_timestamp()


class MovementRow(SQLModel, table=True):
    """The ledger: every change of on-hand or reserved is one row."""

    __tablename__ = "stock_movements"
    __table_args__ = (check_one_of("stock_movements", "kind", MovementKind),)

    id: int | None = surrogate_key()
    sku: str = Field(index=True, max_length=64)
    # Every movement names its lot (null only on rows written before lots existed).
    lot: str | None = Field(default=None, max_length=64)
    order_id: str | None = Field(default=None, index=True, max_length=100)
    kind: str = Field(max_length=20)
    delta_on_hand: int
    delta_reserved: int
    reason: str = Field(max_length=200)
    at: datetime = utc_timestamp()


class LotRow(SQLModel, table=True):
    """One lot of one SKU. A SELLABLE lot's units count in its SKU's `stock` row (the sum of
    the sellable lots); an EXPIRED or QUARANTINED lot's units are out of sale. `on_hand` is what
    is in the warehouse, `reserved` the part of it held for orders."""

    __tablename__ = "lots"
    __table_args__ = (
        *not_negative("lots", "on_hand", "reserved"),
        sa.CheckConstraint("reserved <= on_hand", name="ck_lots_reserved_within_on_hand"),
        check_one_of("lots", "status", LotStatus),
        check_one_of("lots", "storage_class", get_args(StorageClass)),
        # The expiry job scans sellable lots by date.
        sa.Index("ix_lots_status_expiry_date", "status", "expiry_date"),
    )

    sku: str = Field(primary_key=True, max_length=64)
    code: str = Field(primary_key=True, max_length=64)
    status: str = Field(max_length=20)
    on_hand: int = 0
    reserved: int = 0
    received: int = big_integer(default=0)  # every unit ever received into the lot
    # Every unit disposed of (out of sale, then gone).
    disposed: int = big_integer(default=0, server_default="0")
    origin_country: str | None = Field(default=None, max_length=2)
    origin_region: str | None = Field(default=None, max_length=100)
    producer: str | None = Field(default=None, max_length=200)
    production_date: date | None = None
    expiry_date: date | None = None
    storage_class: str = Field(default="AMBIENT", max_length=10)
    inspection_ref: str | None = Field(default=None, max_length=100)
    inspected_at: datetime | None = utc_timestamp(nullable=True)
    received_at: datetime = utc_timestamp()
    expiring_notified_at: datetime | None = utc_timestamp(nullable=True)
    withdrawn_at: datetime | None = utc_timestamp(nullable=True)
    updated_at: datetime = utc_timestamp()


class AllocationRow(SQLModel, table=True):
    """Units of one order's line held in one lot. HELD while reserved, COMMITTED once the
    order is confirmed (with a trace code), RELEASED when they went back, MOVED when a
    withdrawn lot's units were replaced by another lot's (a new row), WITHDRAWN when they could
    not be and the order lost them."""

    __tablename__ = "allocations"
    __table_args__ = (
        sa.CheckConstraint("quantity > 0", name="ck_allocations_quantity_positive"),
        check_one_of("allocations", "status", AllocationStatus),
        sa.Index("ix_allocations_sku_lot", "sku", "lot"),
    )

    id: int | None = surrogate_key()
    order_id: str = Field(index=True, max_length=100)
    sku: str = Field(max_length=64)
    lot: str = Field(max_length=64)
    quantity: int
    status: str = Field(max_length=20)
    trace_code: str | None = Field(default=None, max_length=32, unique=True)
    member_id: str | None = Field(default=None, max_length=100)
    product_name: str | None = Field(default=None, max_length=200)
    reason: str | None = Field(default=None, max_length=50)
    reserved_at: datetime = utc_timestamp()
    committed_at: datetime | None = utc_timestamp(nullable=True)
    shipped_at: datetime | None = utc_timestamp(nullable=True)
    delivered_at: datetime | None = utc_timestamp(nullable=True)
    returned_at: datetime | None = utc_timestamp(nullable=True)
    updated_at: datetime = utc_timestamp()


class RecallRow(SQLModel, table=True):
    """One recall of one lot. `finished_at` is null while orders are still being re-allocated
    or cancelled: the recall job resumes an unfinished recall after a crash."""

    __tablename__ = "recalls"
    __table_args__ = (sa.UniqueConstraint("sku", "lot", name="uq_recalls_sku_lot"),)

    id: str = Field(primary_key=True, max_length=36)
    sku: str = Field(max_length=64)
    lot: str = Field(max_length=64)
    reason: str = Field(max_length=500)
    quarantined: int
    recalled_by: str = Field(max_length=100)
    recalled_at: datetime = utc_timestamp()
    finished_at: datetime | None = utc_timestamp(nullable=True)


STOCK = table_of(StockRow)
RESERVATIONS = table_of(ReservationRow)
MOVEMENTS = table_of(MovementRow)
LOTS = table_of(LotRow)
ALLOCATIONS = table_of(AllocationRow)
RECALLS = table_of(RecallRow)
