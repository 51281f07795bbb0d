"""Events published by the order service on `order.events` (subject: the order id; the member
id for the cart's)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared_events.money import Money
from shared_events.registry import EventPayload, registry


class OrderLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    product_id: str
    name: str
    quantity: int = Field(gt=0)
    unit_price: Money
    line_total: Money


@registry.event("order.order.placed", 1, key="order id")
class OrderPlacedV1(EventPayload):
    order_id: str
    member_id: str
    currency: str
    items: list[OrderLine]
    subtotal: Money
    discount: Money
    total: Money
    placed_at: datetime
    # Added in v1 (optional): the benefits membership must hold for this order.
    coupon_code: str | None = None
    points: int = 0


@registry.event("order.payment.requested", 1, key="order id")
class PaymentRequestedV1(EventPayload):
    """Stock is reserved: the order asks payment to authorise. `payment_token` is the
    provider's opaque, single-use token (never card data)."""

    sensitive_fields = frozenset({"payment_token"})

    order_id: str
    member_id: str
    amount: Money
    payment_token: str


@registry.event("order.order.confirmed", 1, key="order id")
class OrderConfirmedV1(EventPayload):
    order_id: str
    member_id: str
    total: Money


@registry.event("order.order.rejected", 1, key="order id")
class OrderRejectedV1(EventPayload):
    """Terminal: a saga step said no. `reason`: OUT_OF_STOCK, PAYMENT_DECLINED,
    INSUFFICIENT_FUNDS, RISK_REJECTED, PAYMENT_FAILED."""

    order_id: str
    member_id: str
    reason: str


@registry.event("order.order.cancelled", 1, key="order id")
class OrderCancelledV1(EventPayload):
    """Terminal: cancelled by the customer, by a saga timeout, or because a lot the order held
    was withdrawn and could not be replaced (`reason` TIMEOUT, CANCELLED_BY_CUSTOMER, RECALLED
    or LOT_EXPIRED; inventory has then already released the units). `was_confirmed` tells
    whether payment was captured."""

    order_id: str
    member_id: str
    reason: str
    was_confirmed: bool


@registry.event("order.order.shipped", 1, key="order id")
class OrderShippedV1(EventPayload):
    order_id: str
    member_id: str


@registry.event("order.order.delivered", 1, key="order id")
class OrderDeliveredV1(EventPayload):
    order_id: str
    member_id: str


@registry.event("order.order.completed", 1, key="order id")
class OrderCompletedV1(EventPayload):
    """Terminal and final: membership earns points on `total` and recomputes the tier."""

    order_id: str
    member_id: str
    total: Money


@registry.event("order.order.returned", 1, key="order id")
class OrderReturnedV1(EventPayload):
    """After-sales: the customer returned a delivered or completed order in full. Payment
    refunds the capture, inventory restocks the units, membership takes back what the order
    earned and gives back what it redeemed. The order is REFUNDED from here on."""

    order_id: str
    member_id: str
    reason: str
    total: Money


@registry.event("order.cart.item_changed", 1, key="member id")
class CartItemChangedV1(EventPayload):
    """A member's cart line changed quantity (subject: the member id). 0 before: the line was
    added; 0 after: it was removed. Published through the outbox with the cart's transaction,
    only when the quantity really changed."""

    member_id: str
    sku: str
    quantity_before: int = Field(ge=0)
    quantity_after: int = Field(ge=0)
    changed_at: datetime
