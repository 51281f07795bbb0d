"""Order tables. Never returned by the API, never published: see schemas.py for those."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from chassis.columns import big_integer, table_of, utc_timestamp


class ProductPriceRow(SQLModel, table=True):
    """Read model of catalog prices, built from `catalog.events`."""

    __tablename__ = "product_prices"

    sku: str = Field(primary_key=True, max_length=64)
    product_id: str = Field(index=True, max_length=36)
    name: str = Field(max_length=200)
    amount: int = big_integer()
    currency: str = Field(max_length=3)
    published: bool = False
    product_version: int = 0


class CartItemRow(SQLModel, table=True):
    __tablename__ = "cart_items"

    member_id: str = Field(primary_key=True, max_length=64)
    sku: str = Field(primary_key=True, max_length=64)
    quantity: int
    updated_at: datetime = utc_timestamp()


class OrderRow(SQLModel, table=True):
    __tablename__ = "orders"

    id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(index=True, max_length=64)
    status: str = Field(max_length=20)
    saga_step: str = Field(max_length=40)
    reason: str | None = Field(default=None, max_length=40)
    currency: str = Field(max_length=3)
    subtotal: int = big_integer()
    discount: int = big_integer()
    tier_discount: int = big_integer(default=0)
    coupon_code: str | None = Field(default=None, max_length=64)
    coupon_discount: int = big_integer(default=0)
    points: int = 0
    points_discount: int = big_integer(default=0)
    total: int = big_integer()
    # Kept only until payment is requested, then cleared.
    payment_token: str | None = Field(default=None, max_length=200)
    shipping_address: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    deadline_at: datetime | None = utc_timestamp(nullable=True)
    created_at: datetime = utc_timestamp()
    updated_at: datetime = utc_timestamp()
    # First recall notice for this order (it shipped units of a recalled lot): any return of
    # it is accepted whatever the return window.
    recalled_at: datetime | None = utc_timestamp(nullable=True)


class OrderLineRow(SQLModel, table=True):
    __tablename__ = "order_lines"

    order_id: str = Field(primary_key=True, foreign_key="orders.id", max_length=36)
    sku: str = Field(primary_key=True, max_length=64)
    product_id: str = Field(max_length=36)
    name: str = Field(max_length=200)
    quantity: int
    unit_amount: int = big_integer()
    line_amount: int = big_integer()


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
    at: datetime = utc_timestamp()


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
    amount_off: int = big_integer()
    min_spend: int = big_integer()
    currency: str = Field(max_length=3)
    valid_from: datetime = utc_timestamp()
    valid_until: datetime = utc_timestamp()


# The tables for Core statements on the hot path (placing an order, the saga's steps).
ORDERS = table_of(OrderRow)
ORDER_LINES = table_of(OrderLineRow)
TIMELINE = table_of(TimelineRow)
ALLOCATIONS = table_of(LineAllocationRow)
PRODUCT_PRICES = table_of(ProductPriceRow)
MEMBER_TIERS = table_of(MemberTierRow)
COUPONS = table_of(CouponRow)
