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

_Money = sa.BigInteger  # minor units; sums of a year of orders stay far from its limit


def _at(*, nullable: bool = True, index: bool = False) -> sa.Column[datetime]:
    return sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)


class OrderFactRow(SQLModel, table=True):
    """One order: a column per event that concerns it, NULL until that event arrived."""

    __tablename__ = "analytics_orders"

    order_id: str = Field(primary_key=True, max_length=100)
    member_id: str | None = Field(default=None, max_length=100)
    currency: str | None = Field(default=None, max_length=3)
    total: int | None = Field(default=None, sa_column=sa.Column(_Money, nullable=True))
    total_cny: int | None = Field(default=None, sa_column=sa.Column(_Money, nullable=True))
    # The total in CNY as the payment converted it (`amount_cny` of its authorisation or
    # capture); when set, `total_cny` and the lines' shares are this, not analytics' rates.
    paid_cny: int | None = Field(default=None, sa_column=sa.Column(_Money, nullable=True))
    coupon_code: str | None = Field(default=None, max_length=100)
    points: int | None = None
    placed_at: datetime | None = Field(default=None, sa_column=_at(index=True))
    confirmed_at: datetime | None = Field(default=None, sa_column=_at(index=True))
    rejected_at: datetime | None = Field(default=None, sa_column=_at(index=True))
    reject_reason: str | None = Field(default=None, max_length=50)
    cancelled_at: datetime | None = Field(default=None, sa_column=_at(index=True))
    cancel_reason: str | None = Field(default=None, max_length=50)
    returned_at: datetime | None = Field(default=None, sa_column=_at(index=True))


class OrderLineRow(SQLModel, table=True):
    """One SKU of an order, with its share of the order's total in CNY (docs/kpis.md)."""

    __tablename__ = "analytics_order_lines"

    order_id: str = Field(primary_key=True, max_length=100)
    sku: str = Field(primary_key=True, max_length=64)
    product_id: str = Field(max_length=100, index=True)
    quantity: int
    # The line's amount in the order's currency: its weight when the order's CNY total (from
    # the payment) is split again. NULL on rows stored before it was kept.
    amount: int | None = Field(default=None, sa_column=sa.Column(_Money, nullable=True))
    amount_cny: int = Field(sa_column=sa.Column(_Money, nullable=False))


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
    gmv_cny: int = Field(default=0, sa_column=sa.Column(_Money, nullable=False))


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
    base_at: datetime | None = Field(default=None, sa_column=_at())
    safety_stock: int | None = None
    safety_at: datetime | None = Field(default=None, sa_column=_at())
    first_seen: datetime = Field(sa_column=_at(nullable=False))
    last_sold_at: datetime | None = Field(default=None, sa_column=_at())


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
    at: datetime = Field(sa_column=_at(nullable=False))


class MoneyBackRow(SQLModel, table=True):
    """A refund (by refund id) or a void (by payment id) of an order."""

    __tablename__ = "analytics_money_back"
    __table_args__ = (
        sa.CheckConstraint("kind IN ('REFUND', 'VOID')", name="ck_analytics_money_back_kind"),
    )

    order_id: str = Field(primary_key=True, max_length=100)
    kind: str = Field(primary_key=True, max_length=10)
    reference: str = Field(primary_key=True, max_length=100)
    amount: int = Field(sa_column=sa.Column(_Money, nullable=False))
    currency: str = Field(max_length=3)
    amount_cny: int = Field(sa_column=sa.Column(_Money, nullable=False))
    at: datetime = Field(sa_column=_at(nullable=False, index=True))


class MemberFactRow(SQLModel, table=True):
    __tablename__ = "analytics_members"

    member_id: str = Field(primary_key=True, max_length=100)
    registered_at: datetime | None = Field(default=None, sa_column=_at(index=True))
    tier: str | None = Field(default=None, max_length=20)
    tier_at: datetime | None = Field(default=None, sa_column=_at())


class CouponFactRow(SQLModel, table=True):
    __tablename__ = "analytics_coupons"

    code: str = Field(primary_key=True, max_length=100)
    member_id: str | None = Field(default=None, max_length=100)
    kind: str | None = Field(default=None, max_length=30)
    issued_at: datetime | None = Field(default=None, sa_column=_at(index=True))


class CouponUseRow(SQLModel, table=True):
    """A coupon held by an order: redeemed, and given back (restored) if the order was not kept."""

    __tablename__ = "analytics_coupon_uses"

    code: str = Field(primary_key=True, max_length=100)
    order_id: str = Field(primary_key=True, max_length=100)
    redeemed_at: datetime | None = Field(default=None, sa_column=_at())
    restored_at: datetime | None = Field(default=None, sa_column=_at())


class PointsMoveRow(SQLModel, table=True):
    """One points event (earned, redeemed, restored, expired), keyed by its event id."""

    __tablename__ = "analytics_points_moves"
    __table_args__ = (
        sa.CheckConstraint(
            "kind IN ('EARNED', 'REDEEMED', 'RESTORED', 'EXPIRED')",
            name="ck_analytics_points_kind",
        ),
    )

    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid(), primary_key=True))
    kind: str = Field(max_length=10)
    member_id: str = Field(max_length=100)
    order_id: str | None = Field(default=None, max_length=100)
    points: int
    at: datetime = Field(sa_column=_at(nullable=False, index=True))


ORDERS: sa.Table = OrderFactRow.__table__  # type: ignore[attr-defined]
ORDER_LINES: sa.Table = OrderLineRow.__table__  # type: ignore[attr-defined]
PRODUCTS: sa.Table = ProductRow.__table__  # type: ignore[attr-defined]
SKUS: sa.Table = SkuRow.__table__  # type: ignore[attr-defined]
SKU_DAYS: sa.Table = SkuDayRow.__table__  # type: ignore[attr-defined]
PRODUCT_VIEW_DAYS: sa.Table = ProductViewDayRow.__table__  # type: ignore[attr-defined]
CART_DAYS: sa.Table = CartDayRow.__table__  # type: ignore[attr-defined]
STOCK: sa.Table = StockFactRow.__table__  # type: ignore[attr-defined]
STOCK_MOVES: sa.Table = StockMoveRow.__table__  # type: ignore[attr-defined]
MONEY_BACK: sa.Table = MoneyBackRow.__table__  # type: ignore[attr-defined]
MEMBERS: sa.Table = MemberFactRow.__table__  # type: ignore[attr-defined]
COUPONS: sa.Table = CouponFactRow.__table__  # type: ignore[attr-defined]
COUPON_USES: sa.Table = CouponUseRow.__table__  # type: ignore[attr-defined]
POINTS_MOVES: sa.Table = PointsMoveRow.__table__  # type: ignore[attr-defined]

# Every table the events fill, read off the metadata so that a new one cannot be missed: a
# rebuild empties exactly these (and the analytics consumers' inbox rows) before replaying.
PROJECTION: tuple[sa.Table, ...] = tuple(
    table for table in SQLModel.metadata.sorted_tables if table.name.startswith("analytics_")
)
