"""The order saga as an explicit state machine. No I/O here."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    REFUNDED = "REFUNDED"


class SagaStep(StrEnum):
    """What a PENDING order waits for; DONE once the saga reached an outcome."""

    AWAITING_STOCK_AND_BENEFITS = "AWAITING_STOCK_AND_BENEFITS"
    AWAITING_STOCK = "AWAITING_STOCK"
    AWAITING_BENEFITS = "AWAITING_BENEFITS"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    DONE = "DONE"


class Trigger(StrEnum):
    STOCK_RESERVED = "STOCK_RESERVED"
    STOCK_REJECTED = "STOCK_REJECTED"
    BENEFITS_HELD = "BENEFITS_HELD"
    BENEFITS_REJECTED = "BENEFITS_REJECTED"
    PAYMENT_AUTHORIZED = "PAYMENT_AUTHORIZED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    TIMEOUT = "TIMEOUT"
    CUSTOMER_CANCEL = "CUSTOMER_CANCEL"
    SHIP = "SHIP"
    DELIVER = "DELIVER"
    COMPLETE = "COMPLETE"
    RETURN = "RETURN"


class Reason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    COUPON_INVALID = "COUPON_INVALID"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    RISK_REJECTED = "RISK_REJECTED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    TIMEOUT = "TIMEOUT"
    CANCELLED_BY_CUSTOMER = "CANCELLED_BY_CUSTOMER"
    RETURNED_BY_CUSTOMER = "RETURNED_BY_CUSTOMER"


S, St = OrderStatus, SagaStep
PENDING_STEPS = (
    St.AWAITING_STOCK_AND_BENEFITS,
    St.AWAITING_STOCK,
    St.AWAITING_BENEFITS,
    St.AWAITING_PAYMENT,
)
State = tuple[OrderStatus, SagaStep]
REJECTED: State = (S.REJECTED, St.DONE)

# The saga as a table: (status, step, trigger) -> (status, step). Anything absent is refused.
# Stock and benefits (coupon, points) are held in parallel; payment is asked for once both are.
TRANSITIONS: dict[tuple[OrderStatus, SagaStep, Trigger], State] = {
    (S.PENDING, St.AWAITING_STOCK_AND_BENEFITS, Trigger.STOCK_RESERVED): (
        S.PENDING,
        St.AWAITING_BENEFITS,
    ),
    (S.PENDING, St.AWAITING_STOCK_AND_BENEFITS, Trigger.BENEFITS_HELD): (
        S.PENDING,
        St.AWAITING_STOCK,
    ),
    (S.PENDING, St.AWAITING_STOCK, Trigger.STOCK_RESERVED): (S.PENDING, St.AWAITING_PAYMENT),
    (S.PENDING, St.AWAITING_BENEFITS, Trigger.BENEFITS_HELD): (S.PENDING, St.AWAITING_PAYMENT),
    **{
        (S.PENDING, step, Trigger.STOCK_REJECTED): REJECTED
        for step in (St.AWAITING_STOCK_AND_BENEFITS, St.AWAITING_STOCK)
    },
    **{
        (S.PENDING, step, Trigger.BENEFITS_REJECTED): REJECTED
        for step in (St.AWAITING_STOCK_AND_BENEFITS, St.AWAITING_BENEFITS)
    },
    (S.PENDING, St.AWAITING_PAYMENT, Trigger.PAYMENT_AUTHORIZED): (S.CONFIRMED, St.DONE),
    (S.PENDING, St.AWAITING_PAYMENT, Trigger.PAYMENT_FAILED): REJECTED,
    **{
        (S.PENDING, step, trigger): (S.CANCELLED, St.DONE)
        for step in PENDING_STEPS
        for trigger in (Trigger.TIMEOUT, Trigger.CUSTOMER_CANCEL)
    },
    (S.CONFIRMED, St.DONE, Trigger.CUSTOMER_CANCEL): (S.CANCELLED, St.DONE),
    # Fulfilment, admin-driven for now.
    (S.CONFIRMED, St.DONE, Trigger.SHIP): (S.SHIPPED, St.DONE),
    (S.SHIPPED, St.DONE, Trigger.DELIVER): (S.DELIVERED, St.DONE),
    (S.DELIVERED, St.DONE, Trigger.COMPLETE): (S.COMPLETED, St.DONE),
    # After-sales: a full return once the goods arrived, refunded by payment.
    (S.DELIVERED, St.DONE, Trigger.RETURN): (S.REFUNDED, St.DONE),
    (S.COMPLETED, St.DONE, Trigger.RETURN): (S.REFUNDED, St.DONE),
}

PAYMENT_REASONS = {
    r.value
    for r in (
        Reason.PAYMENT_DECLINED,
        Reason.INSUFFICIENT_FUNDS,
        Reason.RISK_REJECTED,
        Reason.PAYMENT_FAILED,
    )
}
BENEFIT_REASONS = {Reason.COUPON_INVALID.value, Reason.INSUFFICIENT_POINTS.value}
FULFILMENT = {"ship": Trigger.SHIP, "deliver": Trigger.DELIVER, "complete": Trigger.COMPLETE}


class OrderRuleError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def next_state(status: OrderStatus, step: SagaStep, trigger: Trigger) -> State | None:
    """The state after `trigger`, or None when the trigger does not apply (a late or duplicate
    answer, e.g. a payment authorised after the order timed out: its compensation is the
    other services' reaction to the cancellation)."""
    return TRANSITIONS.get((status, step, trigger))


def payment_failure_reason(reason: str) -> Reason:
    return Reason(reason) if reason in PAYMENT_REASONS else Reason.PAYMENT_FAILED


def benefits_failure_reason(reason: str) -> Reason:
    return Reason(reason) if reason in BENEFIT_REASONS else Reason.COUPON_INVALID


def first_step(uses_benefits: bool) -> SagaStep:
    return St.AWAITING_STOCK_AND_BENEFITS if uses_benefits else St.AWAITING_STOCK


def fulfilment(status: OrderStatus, action: str) -> State:
    """Admin moves a confirmed order along: ship, deliver, complete."""
    trigger = FULFILMENT[action]
    target = next_state(status, St.DONE, trigger)
    if target is None:
        raise OrderRuleError(
            "invalid-transition", f"cannot {action} an order that is {status.value}"
        )
    return target


def cancellation(status: OrderStatus, step: SagaStep) -> State:
    """A customer's cancel: allowed before shipment only."""
    target = next_state(status, step, Trigger.CUSTOMER_CANCEL)
    if target is None:
        raise OrderRuleError(
            "not-cancellable", f"an order that is {status.value} cannot be cancelled"
        )
    return target


def return_request(
    status: OrderStatus, delivered_at: datetime | None, now: datetime, window: timedelta
) -> State:
    """A customer's return: the whole order, once delivered, within `window` of delivery."""
    target = next_state(status, St.DONE, Trigger.RETURN)
    if target is None or delivered_at is None:
        raise OrderRuleError(
            "not-returnable", f"an order that is {status.value} cannot be returned"
        )
    if now - delivered_at > window:
        days = window.days
        raise OrderRuleError(
            "return-window-closed", f"returns are accepted within {days} days of delivery"
        )
    return target
