"""Events published by the payment service on `payment.events` (subject: the order id, so a
payment's events stay in order with the order's).

`amount_cny` (authorized, captured, voided, refunded) is `amount` in the settlement and
reporting currency, CNY, at the exchange rate the payment's authorisation used: every later
event of the payment converts at that same rate, so a full refund gives back exactly the CNY
that was captured. It was added to version 1 as an optional field: None from producers that
predate it, and for a payment authorised before payment recorded its rate.
"""

from __future__ import annotations

from shared_events.money import Money
from shared_events.registry import EventPayload, registry


@registry.event("payment.payment.authorized", 1, key="order id")
class PaymentAuthorizedV1(EventPayload):
    order_id: str
    payment_id: str
    amount: Money
    amount_cny: Money | None = None


@registry.event("payment.payment.failed", 1, key="order id")
class PaymentFailedV1(EventPayload):
    """`reason`: PAYMENT_DECLINED, INSUFFICIENT_FUNDS, RISK_REJECTED, PAYMENT_FAILED."""

    order_id: str
    payment_id: str
    reason: str
    message: str = ""


@registry.event("payment.payment.captured", 1, key="order id")
class PaymentCapturedV1(EventPayload):
    order_id: str
    payment_id: str
    amount: Money
    amount_cny: Money | None = None


@registry.event("payment.payment.voided", 1, key="order id")
class PaymentVoidedV1(EventPayload):
    order_id: str
    payment_id: str
    amount: Money
    amount_cny: Money | None = None


@registry.event("payment.payment.refunded", 1, key="order id")
class PaymentRefundedV1(EventPayload):
    order_id: str
    payment_id: str
    refund_id: str
    amount: Money
    amount_cny: Money | None = None
