"""The order saga as an explicit state machine. No I/O here."""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum

from chassis.rules import RuleError


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
    # Inventory withdrew a lot the order held and no other lot could replace it.
    STOCK_WITHDRAWN = "STOCK_WITHDRAWN"
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
    RECALLED = "RECALLED"
    LOT_EXPIRED = "LOT_EXPIRED"


PENDING_STEPS = (
    SagaStep.AWAITING_STOCK_AND_BENEFITS,
    SagaStep.AWAITING_STOCK,
    SagaStep.AWAITING_BENEFITS,
    SagaStep.AWAITING_PAYMENT,
)
State = tuple[OrderStatus, SagaStep]


def pending(step: SagaStep) -> State:
    return (OrderStatus.PENDING, step)


def done(status: OrderStatus) -> State:
    """A state the saga has left: the order reached `status`."""
    return (status, SagaStep.DONE)


# The saga as a table: (status, step, trigger) -> (status, step). Anything absent is refused.
# Stock and benefits (coupon, points) are held in parallel; payment is asked for once both are.
TRANSITIONS: dict[tuple[OrderStatus, SagaStep, Trigger], State] = {
    (*pending(SagaStep.AWAITING_STOCK_AND_BENEFITS), Trigger.STOCK_RESERVED): pending(
        SagaStep.AWAITING_BENEFITS
    ),
    (*pending(SagaStep.AWAITING_STOCK_AND_BENEFITS), Trigger.BENEFITS_HELD): pending(
        SagaStep.AWAITING_STOCK
    ),
    (*pending(SagaStep.AWAITING_STOCK), Trigger.STOCK_RESERVED): pending(SagaStep.AWAITING_PAYMENT),
    (*pending(SagaStep.AWAITING_BENEFITS), Trigger.BENEFITS_HELD): pending(
        SagaStep.AWAITING_PAYMENT
    ),
    **{
        (*pending(step), Trigger.STOCK_REJECTED): done(OrderStatus.REJECTED)
        for step in (SagaStep.AWAITING_STOCK_AND_BENEFITS, SagaStep.AWAITING_STOCK)
    },
    **{
        (*pending(step), Trigger.BENEFITS_REJECTED): done(OrderStatus.REJECTED)
        for step in (SagaStep.AWAITING_STOCK_AND_BENEFITS, SagaStep.AWAITING_BENEFITS)
    },
    (*pending(SagaStep.AWAITING_PAYMENT), Trigger.PAYMENT_AUTHORIZED): done(OrderStatus.CONFIRMED),
    (*pending(SagaStep.AWAITING_PAYMENT), Trigger.PAYMENT_FAILED): done(OrderStatus.REJECTED),
    **{
        (*pending(step), trigger): done(OrderStatus.CANCELLED)
        for step in PENDING_STEPS
        for trigger in (Trigger.TIMEOUT, Trigger.CUSTOMER_CANCEL)
    },
    (*done(OrderStatus.CONFIRMED), Trigger.CUSTOMER_CANCEL): done(OrderStatus.CANCELLED),
    # Confirmed after its reservation expired (an outage longer than inventory's TTL) and its
    # units sold meanwhile: inventory could not take them again, so the order is cancelled
    # (OUT_OF_STOCK) and payment refunds or voids it.
    (*done(OrderStatus.CONFIRMED), Trigger.STOCK_REJECTED): done(OrderStatus.CANCELLED),
    # A withdrawn lot (recall, expiry) cancels an order that has not shipped, whatever it
    # waits for; once shipped, the recall notice and the return are the remedy.
    **{
        (*state, Trigger.STOCK_WITHDRAWN): done(OrderStatus.CANCELLED)
        for state in (*(pending(step) for step in PENDING_STEPS), done(OrderStatus.CONFIRMED))
    },
    # Fulfilment, admin-driven for now.
    (*done(OrderStatus.CONFIRMED), Trigger.SHIP): done(OrderStatus.SHIPPED),
    (*done(OrderStatus.SHIPPED), Trigger.DELIVER): done(OrderStatus.DELIVERED),
    (*done(OrderStatus.DELIVERED), Trigger.COMPLETE): done(OrderStatus.COMPLETED),
    # After-sales: a full return once the goods arrived, refunded by payment.
    (*done(OrderStatus.DELIVERED), Trigger.RETURN): done(OrderStatus.REFUNDED),
    (*done(OrderStatus.COMPLETED), Trigger.RETURN): done(OrderStatus.REFUNDED),
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


class TransitionRefused(RuleError):
    """The order's state does not allow what was asked (cancel, return, ship, ...): 409."""

    status = 409


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
    return SagaStep.AWAITING_STOCK_AND_BENEFITS if uses_benefits else SagaStep.AWAITING_STOCK


def fulfilment(status: OrderStatus, action: str) -> State:
    """Admin moves a confirmed order along: ship, deliver, complete."""
    trigger = FULFILMENT[action]
    target = next_state(status, SagaStep.DONE, trigger)
    if target is None:
        raise TransitionRefused(
            "invalid-transition", f"cannot {action} an order that is {status.value}"
        )
    return target


def cancellation(status: OrderStatus, step: SagaStep) -> State:
    """A customer's cancel: allowed before shipment only."""
    target = next_state(status, step, Trigger.CUSTOMER_CANCEL)
    if target is None:
        raise TransitionRefused(
            "not-cancellable", f"an order that is {status.value} cannot be cancelled"
        )
    return target


def return_request(
    status: OrderStatus,
    delivered_at: datetime | None,
    now: datetime,
    window: timedelta,
    *,
    recalled: bool = False,
) -> State:
    """A customer's return: the whole order, once delivered, within `window` of delivery; an
    order holding units of a recalled lot whatever the window."""
    target = next_state(status, SagaStep.DONE, Trigger.RETURN)
    if target is None or delivered_at is None:
        raise TransitionRefused(
            "not-returnable", f"an order that is {status.value} cannot be returned"
        )
    if not recalled and now - delivered_at > window:
        days = window.days
        raise TransitionRefused(
            "return-window-closed", f"returns are accepted within {days} days of delivery"
        )
    return target
