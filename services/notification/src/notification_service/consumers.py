"""Subscriptions: membership, order, payment and inventory events. Handlers keep the read
models and route each event to `Notifier.notify`; the chassis adds the inbox, retries, dead
letters and commit order."""

from __future__ import annotations

from typing import Any

from chassis.consumer import Delivery, EventConsumer, Handler
from notification_service.domain import for_refund, notice_for
from notification_service.service import Notifier, recipients
from shared_events import inventory, membership, order, payment
from shared_events.topics import INVENTORY_EVENTS, MEMBERSHIP_EVENTS, ORDER_EVENTS, PAYMENT_EVENTS

MEMBERSHIP_CONSUMER = "notification-membership"
ORDER_CONSUMER = "notification-orders"
PAYMENT_CONSUMER = "notification-payments"
INVENTORY_CONSUMER = "notification-inventory"


def consumers(notifier: Notifier) -> list[EventConsumer]:
    async def announce(delivery: Delivery, event: Any) -> None:
        """The notice the event calls for by itself, and its webhooks."""
        await notifier.notify(
            delivery, notice_for(event), member_id=getattr(event, "member_id", None)
        )

    async def on_registered(delivery: Delivery, event: membership.MemberRegisteredV1) -> None:
        # The welcome goes out with the WELCOME_GIFT coupon issued in the same transaction.
        await recipients.record_member(delivery.session, event)

    async def on_updated(delivery: Delivery, event: membership.MemberUpdatedV1) -> None:
        await recipients.update_member(delivery.session, event, notifier.cache)

    async def on_placed(delivery: Delivery, event: order.OrderPlacedV1) -> None:
        await recipients.record_order(delivery.session, event)
        await announce(delivery, event)

    async def on_refunded(delivery: Delivery, event: payment.PaymentRefundedV1) -> None:
        member_id = await recipients.member_of_order(delivery.session, event.order_id)
        notice = for_refund(event, member_id) if member_id else None
        await notifier.notify(delivery, notice, member_id=member_id)

    def handlers(*models: type[Any]) -> dict[type[Any], Handler]:
        return dict.fromkeys(models, announce)

    return [
        EventConsumer(
            MEMBERSHIP_CONSUMER,
            MEMBERSHIP_EVENTS,
            {
                membership.MemberRegisteredV1: on_registered,
                membership.MemberUpdatedV1: on_updated,
                **handlers(membership.CouponIssuedV1, membership.TierChangedV1),
            },
        ),
        EventConsumer(
            ORDER_CONSUMER,
            ORDER_EVENTS,
            {
                order.OrderPlacedV1: on_placed,
                **handlers(
                    order.OrderConfirmedV1,
                    order.OrderRejectedV1,
                    order.OrderCancelledV1,
                    order.OrderShippedV1,
                    order.OrderDeliveredV1,
                    order.OrderCompletedV1,
                ),
            },
        ),
        EventConsumer(PAYMENT_CONSUMER, PAYMENT_EVENTS, {payment.PaymentRefundedV1: on_refunded}),
        EventConsumer(INVENTORY_CONSUMER, INVENTORY_EVENTS, handlers(inventory.StockLowV1)),
    ]
