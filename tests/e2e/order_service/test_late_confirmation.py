"""An order confirmed after its reservation expired whose units were sold meanwhile: inventory
answers the confirmation with `inventory.stock.rejected`, and the order service cancels the
confirmed order (OUT_OF_STOCK), once, so that payment refunds it. On the real PostgreSQL and
broker; inventory's side is in services/inventory/tests/integration/test_reservation_expiry.py."""

from __future__ import annotations

import pytest

from shared_events.inventory import ShortLine, StockRejectedV1

from .conftest import Shop
from .test_lots_and_recalls import (
    assert_cancelled_once,
    confirmed,
    send_three_times,
    until_in_timeline,
)

pytestmark = pytest.mark.integration


async def test_stock_rejected_after_confirmation_cancels_the_order_once(
    shop: Shop, kafka_bootstrap_servers: str
) -> None:
    member = shop.member()
    order_id, sku = await confirmed(shop, kafka_bootstrap_servers, member)
    rejected = StockRejectedV1(
        order_id=order_id, short=[ShortLine(sku=sku, requested=3, available=1)]
    )
    await send_three_times(shop, rejected)

    order = await until_in_timeline(shop, order_id, member, StockRejectedV1.event_type, times=2)
    await assert_cancelled_once(
        kafka_bootstrap_servers, order, StockRejectedV1.event_type, "OUT_OF_STOCK"
    )
