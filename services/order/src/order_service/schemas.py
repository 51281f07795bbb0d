"""What the order API accepts (extra="forbid") and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt

from chassis.validation import Currency, MoneyPublic, RequestModel, SkuCode, Text

# Limits of the API contract (the OpenAPI document states them), not deployment settings.
MAX_LINES_PER_ORDER = 50
MAX_QUANTITY_PER_LINE = 99
Quantity = Annotated[StrictInt, Field(gt=0, le=MAX_QUANTITY_PER_LINE)]


class OrderItemIn(RequestModel):
    sku: SkuCode
    quantity: Quantity


class ShippingAddress(RequestModel):
    name: Annotated[Text, Field(min_length=1, max_length=100)]
    phone: str = Field(pattern=r"^\+?[0-9 -]{5,20}$")
    line1: Annotated[Text, Field(min_length=1, max_length=200)]
    line2: Annotated[Text, Field(max_length=200)] | None = None
    city: Annotated[Text, Field(min_length=1, max_length=100)]
    region: Annotated[Text, Field(max_length=100)] | None = None
    postal_code: Annotated[Text, Field(min_length=1, max_length=20)]
    country: str = Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")


class OrderCreate(RequestModel):
    items: list[OrderItemIn] = Field(min_length=1, max_length=MAX_LINES_PER_ORDER)
    currency: Currency
    payment_token: Annotated[Text, Field(min_length=1, max_length=200)]
    shipping_address: ShippingAddress
    coupon_code: Annotated[Text, Field(min_length=1, max_length=64)] | None = None
    points: Annotated[StrictInt, Field(ge=0, le=10_000_000)] | None = None


class CartItemPut(RequestModel):
    quantity: Quantity


class OrderAccepted(BaseModel):
    order_id: str
    status: str


class TraceAllocation(BaseModel):
    """Units of the line from one lot; `trace_code` is what `GET /api/v1/trace/{code}`
    (inventory) answers for."""

    lot: str
    quantity: int
    trace_code: str | None


class OrderLinePublic(BaseModel):
    sku: str
    product_id: str
    name: str
    quantity: int
    unit_price: MoneyPublic
    line_total: MoneyPublic
    # Empty until the stock is committed (and for orders committed before lots existed).
    trace: list[TraceAllocation]


class TimelineEntry(BaseModel):
    type: str
    status: str
    reason: str | None
    at: datetime


class OrderPublic(BaseModel):
    id: str
    member_id: str
    status: str
    reason: str | None
    items: list[OrderLinePublic]
    currency: str
    subtotal: MoneyPublic
    discount: MoneyPublic
    tier_discount: MoneyPublic
    coupon_code: str | None
    coupon_discount: MoneyPublic
    points: int
    points_discount: MoneyPublic
    total: MoneyPublic
    shipping_address: dict[str, object]
    created_at: datetime
    # Set when the order shipped units of a recalled lot: returnable whatever the window.
    recalled_at: datetime | None
    timeline: list[TimelineEntry]


class CartLine(BaseModel):
    sku: str
    quantity: int
    name: str | None
    unit_price: MoneyPublic | None
    available_for_sale: bool


class CartPublic(BaseModel):
    items: list[CartLine]
