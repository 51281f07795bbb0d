"""Subscriptions: `order.events` drive the membership step of the saga (hold, redeem, restore
benefits) and the rewards of completed orders. The chassis parses the envelope, claims the
inbox row and opens the transaction; each handler calls one use case in it."""

from __future__ import annotations

from chassis.consumer import Delivery, EventConsumer
from membership_service.deps import MembershipRuntime
from membership_service.domain.orders import Trigger, cancel_trigger
from membership_service.service import saga
from shared_events.order import (
    OrderCancelledV1,
    OrderCompletedV1,
    OrderConfirmedV1,
    OrderPlacedV1,
    OrderRejectedV1,
    OrderReturnedV1,
)
from shared_events.topics import ORDER_EVENTS


async def on_placed(delivery: Delivery[MembershipRuntime], event: OrderPlacedV1) -> None:
    await saga.hold_benefits(delivery, event)


async def on_confirmed(delivery: Delivery[MembershipRuntime], event: OrderConfirmedV1) -> None:
    await saga.settle_benefits(
        delivery,
        order_id=event.order_id,
        member_id=event.member_id,
        trigger=Trigger.CONFIRMED,
        currency=event.total.currency,
    )


async def on_rejected(delivery: Delivery[MembershipRuntime], event: OrderRejectedV1) -> None:
    await saga.settle_benefits(
        delivery, order_id=event.order_id, member_id=event.member_id, trigger=Trigger.REJECTED
    )


async def on_cancelled(delivery: Delivery[MembershipRuntime], event: OrderCancelledV1) -> None:
    await saga.settle_benefits(
        delivery,
        order_id=event.order_id,
        member_id=event.member_id,
        trigger=cancel_trigger(event.was_confirmed),
    )


async def on_returned(delivery: Delivery[MembershipRuntime], event: OrderReturnedV1) -> None:
    # Refunded after delivery: redeemed points and coupon come back, earned points go.
    await saga.settle_benefits(
        delivery, order_id=event.order_id, member_id=event.member_id, trigger=Trigger.REFUNDED
    )


async def on_completed(delivery: Delivery[MembershipRuntime], event: OrderCompletedV1) -> None:
    await saga.complete_order(delivery, event)


CONSUMERS = [
    EventConsumer(
        "membership-orders",
        ORDER_EVENTS,
        {
            OrderPlacedV1: on_placed,
            OrderConfirmedV1: on_confirmed,
            OrderRejectedV1: on_rejected,
            OrderCancelledV1: on_cancelled,
            OrderCompletedV1: on_completed,
            OrderReturnedV1: on_returned,
        },
    )
]
