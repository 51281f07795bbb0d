"""Subscriptions: `order.events` drive the payment of each order. Handlers only route the
payload to a use case; the chassis adds the inbox, retries, dead letters and commit order."""

from __future__ import annotations

from chassis.consumer import Delivery, EventConsumer
from payment_service.service import Payments
from shared_events import order
from shared_events.topics import ORDER_EVENTS

CONSUMER_NAME = "payment-orders"


def order_events_consumer(payments: Payments) -> EventConsumer:
    async def on_payment_requested(delivery: Delivery, event: order.PaymentRequestedV1) -> None:
        # The token goes to the provider and nowhere else (not logged, not stored).
        await payments.authorize(
            delivery,
            order_id=event.order_id,
            member_id=event.member_id,
            amount=event.amount,
            token=event.payment_token,
        )

    async def on_confirmed(delivery: Delivery, event: order.OrderConfirmedV1) -> None:
        await payments.capture(delivery, event.order_id)

    async def on_rejected(delivery: Delivery, event: order.OrderRejectedV1) -> None:
        await payments.release(delivery, event.order_id, cancelled=False)

    async def on_cancelled(
        delivery: Delivery, event: order.OrderCancelledV1 | order.OrderReturnedV1
    ) -> None:
        # A return is paid back like a cancellation after capture: a refund of what is left.
        await payments.release(delivery, event.order_id, cancelled=True)

    return EventConsumer(
        CONSUMER_NAME,
        ORDER_EVENTS,
        {
            order.PaymentRequestedV1: on_payment_requested,
            order.OrderConfirmedV1: on_confirmed,
            order.OrderRejectedV1: on_rejected,
            order.OrderCancelledV1: on_cancelled,
            order.OrderReturnedV1: on_cancelled,
        },
    )
