"""Inventory tables. Never returned by the API, never published: see schemas.py for those."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite autoincrements INTEGER


class StockRow(SQLModel, table=True):
    """One SKU. `available` is not stored: it is always `on_hand - reserved`."""

    __tablename__ = "stock"
    __table_args__ = (
        sa.CheckConstraint("on_hand >= 0", name="ck_stock_on_hand_not_negative"),
        sa.CheckConstraint("reserved >= 0", name="ck_stock_reserved_not_negative"),
        sa.CheckConstraint("reserved <= on_hand", name="ck_stock_reserved_within_on_hand"),
        sa.CheckConstraint("safety_stock >= 0", name="ck_stock_safety_not_negative"),
    )

    sku: str = Field(primary_key=True, max_length=64)
    on_hand: int = 0
    reserved: int = 0
    safety_stock: int = 0
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class ReservationRow(SQLModel, table=True):
    """What one order holds. The order id is the key: an order reserves at most once."""

    __tablename__ = "reservations"
    __table_args__ = (
        sa.CheckConstraint(
            "status IN ('RESERVED', 'COMMITTED', 'RELEASED', 'REJECTED')",
            name="ck_reservations_status",
        ),
        # The expiry job scans RESERVED rows by deadline.
        sa.Index("ix_reservations_status_expires_at", "status", "expires_at"),
    )

    order_id: str = Field(primary_key=True, max_length=100)
    status: str = Field(max_length=20)
    # [{"sku": ..., "quantity": ...}], one entry per SKU, sorted by SKU.
    lines: list[dict[str, Any]] = Field(
        default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False)
    )
    reason: str | None = Field(default=None, max_length=50)
    expires_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    updated_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class MovementRow(SQLModel, table=True):
    """The ledger: every change of on-hand or reserved is one row."""

    __tablename__ = "stock_movements"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('RECEIVE', 'ADJUST', 'RESERVE', 'COMMIT', 'RELEASE')",
            name="ck_stock_movements_kind",
        ),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(_BigId, primary_key=True))
    sku: str = Field(index=True, max_length=64)
    order_id: str | None = Field(default=None, index=True, max_length=100)
    kind: str = Field(max_length=20)
    delta_on_hand: int
    delta_reserved: int
    reason: str = Field(max_length=200)
    at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


STOCK: sa.Table = StockRow.__table__  # type: ignore[attr-defined]
RESERVATIONS: sa.Table = ReservationRow.__table__  # type: ignore[attr-defined]
MOVEMENTS: sa.Table = MovementRow.__table__  # type: ignore[attr-defined]
