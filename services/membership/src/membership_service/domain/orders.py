"""What membership knows of each order: the benefits it holds and whether it counts as spend.
No I/O here.

The benefits of an order move along a table, so that every order event is idempotent by state
as well as by the inbox: a trigger that does not apply to the current state changes nothing.
"""

from __future__ import annotations

from enum import StrEnum


class OrderStatus(StrEnum):
    """The order's status as far as membership has heard."""

    PLACED = "PLACED"
    CONFIRMED = "CONFIRMED"
    COMPLETED = "COMPLETED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"


# A member's earlier order in one of these makes the next one not their first.
COUNTED_ORDERS = (OrderStatus.CONFIRMED, OrderStatus.COMPLETED)


class Benefits(StrEnum):
    NONE = "NONE"  # the order uses neither coupon nor points
    HELD = "HELD"
    REJECTED = "REJECTED"  # nothing was held
    REDEEMED = "REDEEMED"
    RELEASED = "RELEASED"  # the order failed before confirmation: given back
    REFUNDED = "REFUNDED"  # the confirmed order was cancelled: given back


class Trigger(StrEnum):
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"  # before confirmation
    REFUNDED = "REFUNDED"  # cancelled after confirmation (`was_confirmed`)


class Action(StrEnum):
    REDEEM = "REDEEM"
    RESTORE = "RESTORE"


class RejectReason(StrEnum):
    """`membership.benefits.rejected` reasons (the order's rejection reason as well)."""

    COUPON_INVALID = "COUPON_INVALID"
    INSUFFICIENT_POINTS = "INSUFFICIENT_POINTS"


class RestoreReason(StrEnum):
    """`reason` of `membership.points.restored` and `membership.coupon.restored`."""

    ORDER_REJECTED = "ORDER_REJECTED"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    ORDER_REFUNDED = "ORDER_REFUNDED"


# (benefits, trigger) -> (benefits after, what to do with the coupon and points, reason).
BENEFIT_TRANSITIONS: dict[
    tuple[Benefits, Trigger], tuple[Benefits, Action, RestoreReason | None]
] = {
    (Benefits.HELD, Trigger.CONFIRMED): (Benefits.REDEEMED, Action.REDEEM, None),
    (Benefits.HELD, Trigger.REJECTED): (
        Benefits.RELEASED,
        Action.RESTORE,
        RestoreReason.ORDER_REJECTED,
    ),
    (Benefits.HELD, Trigger.CANCELLED): (
        Benefits.RELEASED,
        Action.RESTORE,
        RestoreReason.ORDER_CANCELLED,
    ),
    # Cancelled with `was_confirmed` but the confirmation never reached us: still held.
    (Benefits.HELD, Trigger.REFUNDED): (
        Benefits.RELEASED,
        Action.RESTORE,
        RestoreReason.ORDER_CANCELLED,
    ),
    (Benefits.REDEEMED, Trigger.REFUNDED): (
        Benefits.REFUNDED,
        Action.RESTORE,
        RestoreReason.ORDER_REFUNDED,
    ),
}

# What an order event makes of the order's status; anything else leaves it as it is.
STATUS_AFTER: dict[Trigger, OrderStatus] = {
    Trigger.CONFIRMED: OrderStatus.CONFIRMED,
    Trigger.REJECTED: OrderStatus.REJECTED,
    Trigger.CANCELLED: OrderStatus.CANCELLED,
    Trigger.REFUNDED: OrderStatus.CANCELLED,
}
FINAL_STATUSES = (OrderStatus.REJECTED, OrderStatus.CANCELLED)


def benefit_step(
    benefits: Benefits, trigger: Trigger
) -> tuple[Benefits, Action, RestoreReason | None] | None:
    """The step an order event takes on the order's benefits, or None (nothing to do)."""
    return BENEFIT_TRANSITIONS.get((benefits, trigger))


def cancel_trigger(was_confirmed: bool) -> Trigger:
    return Trigger.REFUNDED if was_confirmed else Trigger.CANCELLED


def status_after(status: OrderStatus, trigger: Trigger) -> OrderStatus:
    """Final statuses stay; COMPLETED stays unless the order is refunded."""
    if status in FINAL_STATUSES:
        return status
    if status is OrderStatus.COMPLETED and trigger is not Trigger.REFUNDED:
        return status
    return STATUS_AFTER[trigger]


def can_complete(status: OrderStatus) -> bool:
    """`order.order.completed` earns points and spend once, and never for a failed order."""
    return status not in (OrderStatus.COMPLETED, *FINAL_STATUSES)
