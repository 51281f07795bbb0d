"""`inventory.stock.committed` in both its versions, on the real broker, into the running
service: analytics reads v2, so a commit counts once whether inventory publishes v2 with its
v1 twin (the deprecation window), v2 alone (`INVENTORY_PUBLISH_COMMITTED_V1=false`, the end of
the window) or a v1 stored before v2 existed (a replay); none is dead-lettered.

SKU counted 20, then three orders commit: A 2 units (v2 and its v1 twin), B 1 (a stored v1),
C 4 (v2 alone): 13 on hand. A consumer still reading v1 dead-letters C and shows 17."""

from __future__ import annotations

import uuid

import httpx
import pytest
from prometheus_client import REGISTRY

from analytics_service.config import AnalyticsSettings
from analytics_service.main import create_app
from chassis.producer import EventProducer, OutgoingRecord
from chassis.testing.events import send
from chassis.testing.polling import eventually
from chassis.testing.serving import serve_app
from chassis.testing.tokens import TestTokenIssuer
from shared_events import EventPayload, registry, to_kafka
from shared_events.inventory import (
    CommittedLine,
    LotAllocation,
    StockAdjustedV1,
    StockCommittedV1,
    StockCommittedV2,
    StockLine,
)
from shared_events.topics import INVENTORY_EVENTS

from .conftest import bearer

pytestmark = pytest.mark.integration


def v1(order_id: str, sku: str, quantity: int) -> StockCommittedV1:
    return StockCommittedV1(order_id=order_id, lines=[StockLine(sku=sku, quantity=quantity)])


def v2(order_id: str, sku: str, quantity: int) -> StockCommittedV2:
    lot = LotAllocation(lot="L-1", quantity=quantity, trace_code=f"T-{order_id}")
    line = CommittedLine(sku=sku, quantity=quantity, allocations=[lot])
    return StockCommittedV2(order_id=order_id, lines=[line])


def record(
    payload: EventPayload, order_id: str, versions: tuple[int, ...] | None
) -> OutgoingRecord:
    """The record inventory's relay sends; `versions`: every version the event went out in."""
    envelope = registry.envelope(payload, subject=order_id, dataversions=versions)
    kafka = to_kafka(envelope)
    return OutgoingRecord(INVENTORY_EVENTS, kafka.key, kafka.value, list(kafka.headers))


def dead_lettered() -> float:
    labels = {"service": "analytics", "consumer": "analytics-inventory"}
    return REGISTRY.get_sample_value("events_dead_lettered_total", labels) or 0.0


async def test_commits_in_v1_v2_or_both_count_once(
    served_settings: AnalyticsSettings, isolated_kafka: str, token_issuer: TestTokenIssuer
) -> None:
    settings = served_settings
    tag = uuid.uuid4().hex[:8]
    sku, twins, stored, alone = f"SKU-{tag}", f"A-{tag}", f"B-{tag}", f"C-{tag}"
    dead_before = dead_lettered()
    producer = EventProducer(isolated_kafka)
    await producer.start()
    try:
        async with (
            serve_app(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as http,
        ):
            count = StockAdjustedV1(
                sku=sku, delta=20, on_hand=20, reserved=0, available=20, reason="count"
            )
            await send(producer, count)
            # The commits come after the count by event time (the envelope's time is now).
            await producer.send_batch(
                [
                    record(v2(twins, sku, 2), twins, (1, 2)),  # newest first, as staged
                    record(v1(twins, sku, 2), twins, (1, 2)),
                    record(v1(stored, sku, 1), stored, None),
                    record(v2(alone, sku, 4), alone, None),
                ]
            )

            async def on_hand() -> object:
                response = await http.get(
                    f"/api/v1/admin/analytics/skus/{sku}",
                    headers=bearer(token_issuer.admin_token()),
                )
                return response.json().get("on_hand") if response.status_code == 200 else None

            assert await eventually(on_hand, lambda n: n == 13, 20) == 13
    finally:
        await producer.stop()
    assert dead_lettered() == dead_before
