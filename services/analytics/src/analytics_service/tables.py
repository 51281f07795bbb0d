"""The analytics projection: facts per order (and its lines), per SKU per day, per SKU's stock,
per member, coupon and points move; views per product per day and cart adds per SKU per day;
and the catalog's categories. Never returned by the API as
such: service/reports.py turns them into the figures of docs/kpis.md.

Every table is written by set-based upserts in the poll's transaction (service/projection.py),
each event setting only its own columns, so events of different topics may arrive in any order.
Names carry the `analytics_` prefix: the suite's tools load every service's tables together.
"""

from __future__ import annotations

import uuid
from datetime import date, datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from analytics_service.domain.kpis import MoneyBackKind, PointsKind
from chassis.columns import big_integer, check_one_of, one_of, table_of, utc_timestamp


class OrderFactRow(SQLModel, table=True):
    """One order: a column per event that concerns it, NULL until that event arrived."""

    __tablename__ = "analytics_orders"

    order_id: str = Field(primary_key=True, max_length=100)
    member_id: str | None = Field(default=None, max_length=100)
    currency: str | None = Field(default=None, max_length=3)
    total: int | None = big_integer(nullable=True)
    total_cny: int | None = big_integer(nullable=True)
    # The total in CNY as the payment converted it (`amount_cny` of its authorisation or
    # capture); when set, `total_cny` and the lines' shares are this, not analytics' rates.
    paid_cny: int | None = big_integer(nullable=True)
    coupon_code: str | None = Field(default=None, max_length=100)
    points: int | None = None
    placed_at: datetime | None = utc_timestamp(nullable=True, index=True)
    confirmed_at: datetime | None = utc_timestamp(nullable=True, index=True)
    rejected_at: datetime | None = utc_timestamp(nullable=True, index=True)
    reject_reason: str | None = Field(default=None, max_length=50)
    cancelled_at: datetime | None = utc_timestamp(nullable=True, index=True)
    cancel_reason: str | None = Field(default=None, max_length=50)
    # The cancellation's `was_confirmed`: its units came back, to be counted when the lines
    # are known (a `placed` applied after the cancellation counts them then).
    cancelled_after_payment: bool | None = None
    returned_at: datetime | None = utc_timestamp(nullable=True, index=True)


class OrderLineRow(SQLModel, table=True):
    """One SKU of an order, with its share of the order's total in CNY (docs/kpis.md)."""

    __tablename__ = "analytics_order_lines"

    order_id: str = Field(primary_key=True, max_length=100)
    sku: str = Field(primary_key=True, max_length=64)
    product_id: str = Field(max_length=100, index=True)
    quantity: int
    # The line's amount in the order's currency: its weight when the order's CNY total (from
    # the payment) is split again. NULL on rows stored before it was kept.
    amount: int | None = big_integer(nullable=True)
    amount_cny: int = big_integer()


class ProductRow(SQLModel, table=True):
    """The catalog's category of a product; the newest `version` wins."""

    __tablename__ = "analytics_products"

    product_id: str = Field(primary_key=True, max_length=100)
    name: str = Field(max_length=200)
    category: str = Field(max_length=100)
    version: int


class SkuRow(SQLModel, table=True):
    __tablename__ = "analytics_skus"

    sku: str = Field(primary_key=True, max_length=64)
    product_id: str = Field(max_length=100, index=True)


class SkuDayRow(SQLModel, table=True):
    """Per SKU per reporting day: units of the orders paid that day, units given back
    (returns, cancellations of paid orders) that day, and the CNY of the units paid."""

    __tablename__ = "analytics_sku_days"

    sku: str = Field(primary_key=True, max_length=64)
    day: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    units_sold: int = 0
    units_returned: int = 0
    gmv_cny: int = big_integer(default=0)


class ProductViewDayRow(SQLModel, table=True):
    """Storefront views of a product per reporting day (catalog.product.viewed, at most once:
    a lower bound). A view names a product; its category is the product's, read at report time."""

    __tablename__ = "analytics_product_view_days"

    product_id: str = Field(primary_key=True, max_length=100)
    day: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    views: int = 0


class CartDayRow(SQLModel, table=True):
    """Cart adds of a SKU per reporting day (order.cart.item_changed with quantity_after >
    quantity_before): one add per such event, and the units it added. Removals are not kept."""

    __tablename__ = "analytics_cart_days"

    sku: str = Field(primary_key=True, max_length=64)
    day: date = Field(sa_column=sa.Column(sa.Date, primary_key=True))
    cart_adds: int = 0
    units_added: int = 0


class StockFactRow(SQLModel, table=True):
    """A SKU's last absolute count and its safety stock; the moves since are in stock_moves."""

    __tablename__ = "analytics_stock"

    sku: str = Field(primary_key=True, max_length=64)
    base_on_hand: int = 0
    base_at: datetime | None = utc_timestamp(nullable=True)
    safety_stock: int | None = None
    safety_at: datetime | None = utc_timestamp(nullable=True)
    first_seen: datetime = utc_timestamp()
    last_sold_at: datetime | None = utc_timestamp(nullable=True)


class StockMoveRow(SQLModel, table=True):
    """Units that left the shelf for an order (COMMIT, negative) or came back (RESTOCK)."""

    __tablename__ = "analytics_stock_moves"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('COMMIT', 'RESTOCK')", name="ck_analytics_moves_kind"),
    )

    order_id: str = Field(primary_key=True, max_length=100)
    sku: str = Field(primary_key=True, max_length=64, index=True)
    kind: str = Field(primary_key=True, max_length=10)
    delta: int
    at: datetime = utc_timestamp()


class MoneyBackRow(SQLModel, table=True):
    """A refund (by refund id) or a void (by payment id) of an order."""

    __tablename__ = "analytics_money_back"
    __table_args__ = (check_one_of("analytics_money_back", "kind", MoneyBackKind),)

    order_id: str = Field(primary_key=True, max_length=100)
    kind: str = Field(primary_key=True, max_length=10)
    reference: str = Field(primary_key=True, max_length=100)
    amount: int = big_integer()
    currency: str = Field(max_length=3)
    amount_cny: int = big_integer()
    at: datetime = utc_timestamp(index=True)


class MemberFactRow(SQLModel, table=True):
    __tablename__ = "analytics_members"

    member_id: str = Field(primary_key=True, max_length=100)
    registered_at: datetime | None = utc_timestamp(nullable=True, index=True)
    tier: str | None = Field(default=None, max_length=20)
    tier_at: datetime | None = utc_timestamp(nullable=True)


class CouponFactRow(SQLModel, table=True):
    __tablename__ = "analytics_coupons"

    code: str = Field(primary_key=True, max_length=100)
    member_id: str | None = Field(default=None, max_length=100)
    kind: str | None = Field(default=None, max_length=30)
    issued_at: datetime | None = utc_timestamp(nullable=True, index=True)


class CouponUseRow(SQLModel, table=True):
    """A coupon held by an order: redeemed, and given back (restored) if the order was not kept."""

    __tablename__ = "analytics_coupon_uses"

    code: str = Field(primary_key=True, max_length=100)
    order_id: str = Field(primary_key=True, max_length=100)
    redeemed_at: datetime | None = utc_timestamp(nullable=True)
    restored_at: datetime | None = utc_timestamp(nullable=True)


class PointsMoveRow(SQLModel, table=True):
    """One points event (earned, redeemed, restored, expired), keyed by its event id."""

    __tablename__ = "analytics_points_moves"
    __table_args__ = (
        sa.CheckConstraint(one_of("kind", PointsKind), name="ck_analytics_points_kind"),
    )

    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid(), primary_key=True))
    kind: str = Field(max_length=10)
    member_id: str = Field(max_length=100)
    order_id: str | None = Field(default=None, max_length=100)
    points: int
    at: datetime = utc_timestamp(index=True)


ORDERS = table_of(OrderFactRow)
ORDER_LINES = table_of(OrderLineRow)
PRODUCTS = table_of(ProductRow)
SKUS = table_of(SkuRow)
SKU_DAYS = table_of(SkuDayRow)
PRODUCT_VIEW_DAYS = table_of(ProductViewDayRow)
CART_DAYS = table_of(CartDayRow)
STOCK = table_of(StockFactRow)
STOCK_MOVES = table_of(StockMoveRow)
MONEY_BACK = table_of(MoneyBackRow)
MEMBERS = table_of(MemberFactRow)
COUPONS = table_of(CouponFactRow)
COUPON_USES = table_of(CouponUseRow)
POINTS_MOVES = table_of(PointsMoveRow)

# Every table the events fill, read off the metadata so that a new one cannot be missed: a
# rebuild empties exactly these (and the analytics consumers' inbox rows) before replaying.
PROJECTION: tuple[sa.Table, ...] = tuple(
    table for table in SQLModel.metadata.sorted_tables if table.name.startswith("analytics_")
)
