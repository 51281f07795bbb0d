"""What the analytics API returns. Money is CNY fen (integer minor units, as events carry it);
rates are fractions (0.25 is 25 %), null where their denominator is zero or a step has no event
yet. docs/kpis.md defines every field."""

from __future__ import annotations

from datetime import date, datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

REPORTING_CURRENCY: Literal["CNY"] = "CNY"


class Figures(BaseModel):
    gmv: int
    net_gmv: int
    refund_amount: int
    orders_placed: int
    orders_paid: int
    placed_to_paid_rate: float | None
    paying_members: int
    aov: int | None = Field(description="客单价: GMV per paid order, in fen")
    gmv_per_paying_member: int | None
    active_members: int
    new_members: int
    repurchase_rate: float | None
    returns: int
    return_rate: float | None
    return_amount_rate: float | None
    coupons_issued: int
    coupons_redeemed: int
    coupon_redemption_rate: float | None
    points_issued: int
    points_redeemed: int
    points_expired: int


class BucketFigures(Figures):
    start: str = Field(description="the local day (2026-12-05) or hour (2026-12-05T14:00)")


class CategoryFigures(BaseModel):
    category: str
    gmv: int
    net_gmv: int
    refund_amount: int
    orders_paid: int
    units_sold: int
    returns: int


class StatusFlow(BaseModel):
    placed: int
    confirmed: int
    rejected: dict[str, int] = Field(description="per reason")
    cancelled: dict[str, int] = Field(description="per reason")
    cancelled_after_payment: int
    returned: int


class PeriodOut(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    from_: date = Field(alias="from")
    to: date
    time_zone: str
    currency: Literal["CNY"] = REPORTING_CURRENCY


class KpiReport(PeriodOut):
    granularity: Literal["day", "hour"]
    totals: Figures
    buckets: list[BucketFigures]
    categories: list[CategoryFigures]
    status_flow: StatusFlow
    tiers: dict[str, int] = Field(description="members per tier now")


class FunnelStep(BaseModel):
    step: Literal["views", "cart_adds", "orders_placed", "orders_paid"]
    count: int | None
    rate: float | None = Field(description="this step / the step before")


class CategoryFunnel(BaseModel):
    category: str
    steps: list[FunnelStep]
    units_added: int = Field(description="units put in carts by the cart adds")


class FunnelReport(PeriodOut):
    steps: list[FunnelStep]
    missing: list[str] = Field(
        description="steps no event carries (none since the view and cart events exist)"
    )
    units_added: int = Field(description="units put in carts by the cart adds")
    categories: list[CategoryFunnel] = Field(
        description="the funnel per category; an order in two categories counts in each"
    )


class SkuDay(BaseModel):
    day: date
    units_sold: int
    units_returned: int
    gmv: int
    views: int = Field(description="views of the SKU's product")
    cart_adds: int
    units_added: int
    orders_placed: int = Field(description="orders with a line of this SKU placed that day")
    orders_paid: int = Field(description="orders with a line of this SKU paid that day")


class SkuReport(PeriodOut):
    sku: str
    product_id: str | None
    category: str
    on_hand: int
    safety_stock: int
    low: bool
    last_sold_at: datetime | None
    units_sold: int
    units_returned: int
    gmv: int
    sell_through: float | None
    turnover_days: float | None
    funnel: list[FunnelStep] = Field(
        description="views of its product -> its cart adds -> orders with it placed -> paid"
    )
    units_added: int
    days: list[SkuDay]


class LowStockItem(BaseModel):
    sku: str
    category: str
    on_hand: int
    safety_stock: int


class LowStockList(BaseModel):
    items: list[LowStockItem]


class SlowMovingItem(BaseModel):
    sku: str
    category: str
    on_hand: int
    last_sold_at: datetime | None
    days_without_sale: int


class SlowMovingList(BaseModel):
    days: int
    as_of: datetime
    items: list[SlowMovingItem]


class TopProduct(BaseModel):
    product_id: str
    name: str | None = Field(description="as the catalog names it now; null if never heard of")
    category: str
    units_sold: int
    units_returned: int
    gmv: int


class TopProducts(PeriodOut):
    items: list[TopProduct] = Field(description="by GMV of the units paid in the period")


class DashboardReport(BaseModel):
    """Everything the operators' page shows, in one answer: it polls every two seconds, so
    one request (and one rate-limit count) per refresh rather than four."""

    kpis: KpiReport
    funnel: FunnelReport
    top_products: TopProducts
    low_stock: LowStockList


class TopicLag(BaseModel):
    topic: str
    lag: int = Field(description="records on the topic's partitions the group has not committed")


class GroupLag(BaseModel):
    group: str = Field(description="the consumer group: the reading service's name")
    lag: int = Field(description="records behind, over all its partitions")
    partitions: int
    partitions_behind: int
    topics: list[TopicLag]


class ConsumerLagReport(BaseModel):
    """Each consumer group's lag as the broker has it: end offset minus committed offset."""

    read_at: datetime
    groups: list[GroupLag] = Field(description="by group name")
