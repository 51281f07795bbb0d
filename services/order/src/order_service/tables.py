"""Order tables. Never returned by the API, never published: see schemas.py for those."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


def _utc_timestamp() -> Any:
    """A required timestamp column with its time zone (every time stored is UTC)."""
    return Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


class ProductPriceRow(SQLModel, table=True):
    """Read model of catalog prices, built from `catalog.events`."""

    __tablename__ = "product_prices"

    sku: str = Field(primary_key=True, max_length=64)
    product_id: str = Field(index=True, max_length=36)
    name: str = Field(max_length=200)
    amount: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    published: bool = False
    product_version: int = 0


class CartItemRow(SQLModel, table=True):
    __tablename__ = "cart_items"

    member_id: str = Field(primary_key=True, max_length=64)
    sku: str = Field(primary_key=True, max_length=64)
    quantity: int
    updated_at: datetime = _utc_timestamp()


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"

    id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(index=True, max_length=64)
    status: str = Field(max_length=20)
    saga_step: str = Field(max_length=40)
    reason: str | None = Field(default=None, max_length=40)
    currency: str = Field(max_length=3)
    subtotal: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    discount: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    tier_discount: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))
    coupon_code: str | None = Field(default=None, max_length=64)
    coupon_discount: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))
    points: int = 0
    points_discount: int = Field(default=0, sa_column=sa.Column(sa.BigInteger, nullable=False))
    total: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    # Kept only until payment is requested, then cleared.
    payment_token: str | None = Field(default=None, max_length=200)
    shipping_address: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    deadline_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )
    created_at: datetime = _utc_timestamp()
    updated_at: datetime = _utc_timestamp()
    # First recall notice for this order (it shipped units of a recalled lot): any return of
    # it is accepted whatever the return window.
    recalled_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )


class OrderLineRow(SQLModel, table=True):
    __tablename__ = "order_lines"

    order_id: str = Field(primary_key=True, foreign_key="orders.id", max_length=36)
    sku: str = Field(primary_key=True, max_length=64)
    product_id: str = Field(max_length=36)
    name: str = Field(max_length=200)
    quantity: int
    unit_amount: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    line_amount: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))


class LineAllocationRow(SQLModel, table=True):
    """Units of an order line taken from one lot, as `inventory.stock.committed` v2 (and later
    re-allocations) said, with their trace code. A line may hold one lot twice (a re-allocation
    onto a lot it already held), hence the surrogate key."""

    __tablename__ = "order_line_allocations"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True, foreign_key="orders.id", max_length=36)
    sku: str = Field(max_length=64)
    lot: str = Field(max_length=64)
    quantity: int
    trace_code: str | None = Field(default=None, max_length=64)


class TimelineRow(SQLModel, table=True):
    """The events an order went through, oldest first."""

    __tablename__ = "order_timeline"

    id: int | None = Field(default=None, primary_key=True)
    order_id: str = Field(index=True, foreign_key="orders.id", max_length=36)
    event_type: str = Field(max_length=100)
    status: str = Field(max_length=20)
    reason: str | None = Field(default=None, max_length=40)
    event_id: str | None = Field(default=None, max_length=36)
    at: datetime = _utc_timestamp()


class MemberTierRow(SQLModel, table=True):
    """Read model of `membership.tier.changed`: the member price discount."""

    __tablename__ = "member_tier_view"

    member_id: str = Field(primary_key=True, max_length=64)
    tier: str = Field(max_length=20)
    discount_percent: int = 0


class CouponRow(SQLModel, table=True):
    """Read model of `membership.coupon.issued`, to price orders that use one."""

    __tablename__ = "coupon_view"

    code: str = Field(primary_key=True, max_length=64)
    member_id: str = Field(index=True, max_length=64)
    amount_off: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    min_spend: int = Field(sa_column=sa.Column(sa.BigInteger, nullable=False))
    currency: str = Field(max_length=3)
    valid_from: datetime = _utc_timestamp()
    valid_until: datetime = _utc_timestamp()


# The tables for Core statements on the hot path (placing an order, the saga's steps).
ORDERS: sa.Table = OrderRow.__table__  # type: ignore[attr-defined]
ORDER_LINES: sa.Table = OrderLineRow.__table__  # type: ignore[attr-defined]
TIMELINE: sa.Table = TimelineRow.__table__  # type: ignore[attr-defined]
ALLOCATIONS: sa.Table = LineAllocationRow.__table__  # type: ignore[attr-defined]
PRODUCT_PRICES: sa.Table = ProductPriceRow.__table__  # type: ignore[attr-defined]
