"""Subscriptions: `catalog.events` (new SKUs get a stock record) and `order.events` (the saga's
reservations). The chassis parses the envelope, claims the inbox row and opens the transaction;
each handler calls one service function in it."""

from __future__ import annotations

from chassis.consumer import Delivery, EventConsumer
from inventory_service import service
from inventory_service.config import InventorySettings
from inventory_service.domain import ReservationAction
from shared_events.catalog import ProductCreatedV1
from shared_events.order import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderPlacedV1,
    OrderRejectedV1,
    OrderReturnedV1,
)
from shared_events.topics import CATALOG_EVENTS, ORDER_EVENTS


async def on_order_confirmed(delivery: Delivery, payload: OrderConfirmedV1) -> None:
    await service.settle_reservation(delivery, payload.order_id, ReservationAction.COMMIT)


async def on_order_rejected(delivery: Delivery, payload: OrderRejectedV1) -> None:
    await service.settle_reservation(delivery, payload.order_id, ReservationAction.REJECT)


async def on_order_cancelled(delivery: Delivery, payload: OrderCancelledV1) -> None:
    await service.settle_reservation(delivery, payload.order_id, ReservationAction.CANCEL)


async def on_order_returned(delivery: Delivery, payload: OrderReturnedV1) -> None:
    await service.settle_reservation(delivery, payload.order_id, ReservationAction.RETURN)


def consumers(settings: InventorySettings) -> list[EventConsumer]:
    """Handlers that need a setting close over it (a `Delivery` carries no settings)."""

    async def on_product_created(delivery: Delivery, payload: ProductCreatedV1) -> None:
        await service.register_skus(delivery, payload, safety_stock=settings.default_safety_stock)

    async def on_order_placed(delivery: Delivery, payload: OrderPlacedV1) -> None:
        await service.reserve_stock(delivery, payload, ttl_seconds=settings.reservation_ttl_seconds)

    return [
        EventConsumer("inventory-catalog", CATALOG_EVENTS, {ProductCreatedV1: on_product_created}),
        EventConsumer(
            "inventory-orders",
            ORDER_EVENTS,
            {
                OrderPlacedV1: on_order_placed,
                OrderConfirmedV1: on_order_confirmed,
                OrderRejectedV1: on_order_rejected,
                OrderCancelledV1: on_order_cancelled,
                OrderReturnedV1: on_order_returned,
            },
        ),
    ]
