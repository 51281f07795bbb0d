"""An order confirmed after its reservation expired whose units were sold meanwhile: inventory
answers the confirmation with `inventory.stock.rejected`, and the order service cancels the
confirmed order (OUT_OF_STOCK), once, so that payment refunds it. On the real PostgreSQL and
broker; inventory's side is in services/inventory/tests/integration/test_reservation_expiry.py."""

from __future__ import annotations

import uuid

import pytest

from chassis.testing.events import send
from shared_events.inventory import ShortLine, StockRejectedV1
from shared_events.order import OrderCancelledV1

from .conftest import Shop
from .test_lots_and_recalls import confirmed, published, until_in_timeline

pytestmark = pytest.mark.integration


async def test_stock_rejected_after_confirmation_cancels_the_order_once(
    shop: Shop, kafka_bootstrap_servers: str
) -> None:
    member = shop.member()
    order_id, sku = await confirmed(shop, kafka_bootstrap_servers, member)
    rejected = StockRejectedV1(
        order_id=order_id, short=[ShortLine(sku=sku, requested=3, available=1)]
    )
    first = uuid.uuid4()
    await send(shop.producer, rejected, event_id=first)
    await send(shop.producer, rejected, event_id=first)  # redelivered
    await send(shop.producer, rejected)  # the same news again, as a new event

    order = await until_in_timeline(shop, order_id, member, StockRejectedV1.event_type, times=2)
    assert (order["status"], order["reason"]) == ("CANCELLED", "OUT_OF_STOCK")
    types = [e["type"] for e in order["timeline"]]
    assert types.count(StockRejectedV1.event_type) == 2  # the redelivery was dropped
    assert types.count(OrderCancelledV1.event_type) == 1
    cancellations = await published(kafka_bootstrap_servers, order_id, OrderCancelledV1.event_type)
    assert cancellations == [
        {
            "order_id": order_id,
            "member_id": order["member_id"],
            "reason": "OUT_OF_STOCK",
            "was_confirmed": True,  # payment refunds what it captured
        }
    ]
