"""Event handlers: `catalog.events` (new SKUs get a stock record) and `order.events` (the
saga's reservations). The chassis parses the envelope, claims the inbox row and opens the
transaction; each handler calls one use case in it. `CONSUMERS` at the bottom says who handles
what."""

from __future__ import annotations

from typing import TypeAlias

from chassis.consumer import Delivery, EventConsumer
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.lots import shop_today
from inventory_service.domain.reservations import ReservationAction
from inventory_service.service import custody, reservations, stock
from shared_events.catalog import ProductCreatedV1
from shared_events.order import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderDeliveredV1,
    OrderPlacedV1,
    OrderRejectedV1,
    OrderReturnedV1,
    OrderShippedV1,
)
from shared_events.topics import CATALOG_EVENTS, ORDER_EVENTS

# The order events that settle a reservation (commit, release or restock it).
OrderSettled: TypeAlias = OrderConfirmedV1 | OrderRejectedV1 | OrderCancelledV1 | OrderReturnedV1


async def on_product_created(delivery: Delivery[InventoryRuntime], event: ProductCreatedV1) -> None:
    safety_stock = delivery.runtime.settings.default_safety_stock
    await stock.register_skus(delivery.session, event, safety_stock=safety_stock)


async def on_order_placed(delivery: Delivery[InventoryRuntime], event: OrderPlacedV1) -> None:
    settings = delivery.runtime.settings
    today = shop_today(settings.shop_zone, delivery.envelope.time)
    await reservations.reserve_stock(
        delivery, event, ttl_seconds=settings.reservation_ttl_seconds, today=today
    )


# What each settling order event does to the order's reservation.
SETTLEMENTS: dict[type[OrderSettled], ReservationAction] = {
    OrderConfirmedV1: ReservationAction.COMMIT,
    OrderRejectedV1: ReservationAction.REJECT,
    OrderCancelledV1: ReservationAction.CANCEL,
    OrderReturnedV1: ReservationAction.RETURN,
}


async def on_order_settled(delivery: Delivery[InventoryRuntime], event: OrderSettled) -> None:
    await reservations.settle_reservation(
        delivery, event.order_id, SETTLEMENTS[type(event)], member_id=event.member_id
    )


async def on_order_shipped(delivery: Delivery[InventoryRuntime], event: OrderShippedV1) -> None:
    await custody.record_shipped(delivery, event.order_id)


async def on_order_delivered(delivery: Delivery[InventoryRuntime], event: OrderDeliveredV1) -> None:
    await custody.record_delivered(delivery, event.order_id)


CONSUMERS = [
    EventConsumer("inventory-catalog", CATALOG_EVENTS, {ProductCreatedV1: on_product_created}),
    EventConsumer(
        "inventory-orders",
        ORDER_EVENTS,
        {
            OrderPlacedV1: on_order_placed,
            OrderConfirmedV1: on_order_settled,
            OrderRejectedV1: on_order_settled,
            OrderCancelledV1: on_order_settled,
            OrderReturnedV1: on_order_settled,
            OrderShippedV1: on_order_shipped,
            OrderDeliveredV1: on_order_delivered,
        },
    ),
]
