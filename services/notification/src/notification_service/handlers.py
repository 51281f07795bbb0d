"""Subscriptions: membership, order, payment and inventory events (stock, lots, recalls). Each
handler keeps a read model or turns the event into delivery rows (`service/notify.py`); the
chassis adds the inbox, retries, dead letters and commit order. `CONSUMERS` at the bottom: who
handles what."""

from __future__ import annotations

from typing import TypeAlias

from chassis.consumer import Delivery, EventConsumer
from notification_service.deps import NotificationRuntime
from notification_service.service import notify, recipients
from shared_events.inventory import (
    LotExpiredV1,
    LotExpiringV1,
    LotRecalledV1,
    RecallCustomerAffectedV1,
    StockLowV1,
)
from shared_events.membership import (
    CouponIssuedV1,
    MemberRegisteredV1,
    MemberUpdatedV1,
    TierChangedV1,
)
from shared_events.order import (
    OrderCancelledV1,
    OrderCompletedV1,
    OrderConfirmedV1,
    OrderDeliveredV1,
    OrderPlacedV1,
    OrderRejectedV1,
    OrderShippedV1,
)
from shared_events.payment import PaymentRefundedV1
from shared_events.topics import INVENTORY_EVENTS, MEMBERSHIP_EVENTS, ORDER_EVENTS, PAYMENT_EVENTS

# The events whose notice (if any) follows from the event alone, and their webhooks.
Announced: TypeAlias = (
    CouponIssuedV1
    | TierChangedV1
    | OrderConfirmedV1
    | OrderRejectedV1
    | OrderCancelledV1
    | OrderShippedV1
    | OrderDeliveredV1
    | OrderCompletedV1
    | StockLowV1
    | LotExpiringV1
    | LotExpiredV1
    | LotRecalledV1
)


async def on_member_registered(
    delivery: Delivery[NotificationRuntime], event: MemberRegisteredV1
) -> None:
    member = await recipients.record_member(delivery.session, event)
    # Messages that arrived before the registration (other topics are not ordered after it).
    await notify.release_parked(delivery, member)


async def on_member_updated(
    delivery: Delivery[NotificationRuntime], event: MemberUpdatedV1
) -> None:
    await recipients.update_member(delivery.session, event, delivery.runtime.state.cache)


async def on_order_placed(delivery: Delivery[NotificationRuntime], event: OrderPlacedV1) -> None:
    await notify.announce_order(delivery, event)


async def on_payment_refunded(
    delivery: Delivery[NotificationRuntime], event: PaymentRefundedV1
) -> None:
    await notify.announce_refund(delivery, event)


async def on_recall_customer_affected(
    delivery: Delivery[NotificationRuntime], event: RecallCustomerAffectedV1
) -> None:
    await notify.announce_recall(delivery, event)


async def on_announced(delivery: Delivery[NotificationRuntime], event: Announced) -> None:
    await notify.announce(delivery, event)


CONSUMERS = [
    EventConsumer(
        "notification-membership",
        MEMBERSHIP_EVENTS,
        {
            MemberRegisteredV1: on_member_registered,
            MemberUpdatedV1: on_member_updated,
            CouponIssuedV1: on_announced,
            TierChangedV1: on_announced,
        },
    ),
    EventConsumer(
        "notification-orders",
        ORDER_EVENTS,
        {
            OrderPlacedV1: on_order_placed,
            OrderConfirmedV1: on_announced,
            OrderRejectedV1: on_announced,
            OrderCancelledV1: on_announced,
            OrderShippedV1: on_announced,
            OrderDeliveredV1: on_announced,
            OrderCompletedV1: on_announced,
        },
    ),
    EventConsumer(
        "notification-payments", PAYMENT_EVENTS, {PaymentRefundedV1: on_payment_refunded}
    ),
    EventConsumer(
        "notification-inventory",
        INVENTORY_EVENTS,
        {
            StockLowV1: on_announced,
            LotExpiringV1: on_announced,
            LotExpiredV1: on_announced,
            LotRecalledV1: on_announced,
            RecallCustomerAffectedV1: on_recall_customer_affected,
        },
    ),
]
