"""Order events drive the payment of each order. A handler hands the payload to one use case;
the chassis adds the inbox, retries, dead letters and commit order. `CONSUMERS` at the bottom
is the map: which event goes to which handler."""

from __future__ import annotations

from chassis.consumer import Delivery, EventConsumer
from payment_service.deps import PaymentRuntime
from payment_service.service import payments
from shared_events import order
from shared_events.topics import ORDER_EVENTS


async def on_payment_requested(
    delivery: Delivery[PaymentRuntime], event: order.PaymentRequestedV1
) -> None:
    # The token goes to the provider and nowhere else (not logged, not stored).
    await payments.authorize(
        delivery,
        order_id=event.order_id,
        member_id=event.member_id,
        amount=event.amount,
        token=event.payment_token,
    )


async def on_confirmed(delivery: Delivery[PaymentRuntime], event: order.OrderConfirmedV1) -> None:
    await payments.capture(delivery, event.order_id)


async def on_rejected(delivery: Delivery[PaymentRuntime], event: order.OrderRejectedV1) -> None:
    await payments.release(delivery, event.order_id, event.member_id, cancelled=False)


async def on_cancelled(
    delivery: Delivery[PaymentRuntime], event: order.OrderCancelledV1 | order.OrderReturnedV1
) -> None:
    # A return is paid back like a cancellation after capture: a refund of what is left.
    await payments.release(delivery, event.order_id, event.member_id, cancelled=True)


CONSUMERS = [
    EventConsumer(
        "payment-orders",
        ORDER_EVENTS,
        {
            order.PaymentRequestedV1: on_payment_requested,
            order.OrderConfirmedV1: on_confirmed,
            order.OrderRejectedV1: on_rejected,
            order.OrderCancelledV1: on_cancelled,
            order.OrderReturnedV1: on_cancelled,
        },
    )
]
