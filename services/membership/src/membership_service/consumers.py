"""Subscriptions: `order.events` drive the membership step of the saga (hold, redeem, restore
benefits) and the rewards of completed orders. The chassis parses the envelope, claims the
inbox row and opens the transaction; each handler calls one use case in it."""

from __future__ import annotations

from chassis.consumer import Delivery, EventConsumer
from membership_service import service
from membership_service.config import MembershipSettings
from membership_service.domain import Trigger, cancel_trigger
from shared_events import order
from shared_events.topics import ORDER_EVENTS

CONSUMER_NAME = "membership-orders"


def order_events_consumer(settings: MembershipSettings) -> EventConsumer:
    """Handlers that need a setting close over it (so they also run without a runtime)."""

    async def on_placed(delivery: Delivery, event: order.OrderPlacedV1) -> None:
        await service.hold_benefits(delivery, event)

    async def on_confirmed(delivery: Delivery, event: order.OrderConfirmedV1) -> None:
        await service.settle_benefits(
            delivery,
            settings,
            order_id=event.order_id,
            member_id=event.member_id,
            trigger=Trigger.CONFIRMED,
            currency=event.total.currency,
        )

    async def on_rejected(delivery: Delivery, event: order.OrderRejectedV1) -> None:
        await service.settle_benefits(
            delivery,
            settings,
            order_id=event.order_id,
            member_id=event.member_id,
            trigger=Trigger.REJECTED,
        )

    async def on_cancelled(delivery: Delivery, event: order.OrderCancelledV1) -> None:
        await service.settle_benefits(
            delivery,
            settings,
            order_id=event.order_id,
            member_id=event.member_id,
            trigger=cancel_trigger(event.was_confirmed),
        )

    async def on_returned(delivery: Delivery, event: order.OrderReturnedV1) -> None:
        # Refunded after delivery: redeemed points and coupon come back, earned points go.
        await service.settle_benefits(
            delivery,
            settings,
            order_id=event.order_id,
            member_id=event.member_id,
            trigger=Trigger.REFUNDED,
        )

    async def on_completed(delivery: Delivery, event: order.OrderCompletedV1) -> None:
        await service.complete_order(delivery, settings, event)

    return EventConsumer(
        CONSUMER_NAME,
        ORDER_EVENTS,
        {
            order.OrderPlacedV1: on_placed,
            order.OrderConfirmedV1: on_confirmed,
            order.OrderRejectedV1: on_rejected,
            order.OrderCancelledV1: on_cancelled,
            order.OrderCompletedV1: on_completed,
            order.OrderReturnedV1: on_returned,
        },
    )
