"""The service as it runs: `create_app` migrates its PostgreSQL database, joins the `analytics`
consumer group on every topic it reads, and the events other services publish show in its
figures within seconds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import httpx
import pytest

from analytics_service.config import AnalyticsSettings
from analytics_service.handlers import CONSUMERS
from analytics_service.main import create_app
from chassis.producer import EventProducer
from chassis.testing.events import send
from chassis.testing.polling import eventually
from chassis.testing.serving import serve_app
from chassis.testing.tokens import TestTokenIssuer
from shared_events.inventory import StockAdjustedV1
from shared_events.membership import MemberRegisteredV1
from shared_events.order import OrderConfirmedV1
from shared_events.payment import PaymentRefundedV1
from shared_events.topics import (
    CATALOG_EVENTS,
    CATALOG_VIEWS,
    INVENTORY_EVENTS,
    MEMBERSHIP_EVENTS,
    ORDER_EVENTS,
    PAYMENT_EVENTS,
)

from .conftest import bearer, cny, placed

pytestmark = pytest.mark.integration


def test_one_consumer_per_topic_it_reads() -> None:
    assert sorted(c.topic for c in CONSUMERS) == sorted(
        [
            CATALOG_EVENTS,
            CATALOG_VIEWS,
            INVENTORY_EVENTS,
            MEMBERSHIP_EVENTS,
            ORDER_EVENTS,
            PAYMENT_EVENTS,
        ]
    )
    assert len({c.name for c in CONSUMERS}) == len(CONSUMERS)  # one inbox name each


async def test_published_events_show_in_the_running_service_kpis(
    served_settings: AnalyticsSettings, isolated_kafka: str, token_issuer: TestTokenIssuer
) -> None:
    settings = served_settings
    producer = EventProducer(isolated_kafka)
    await producer.start()
    tag = uuid.uuid4().hex[:8]
    order_id, member, sku = f"order-{tag}", f"member-{tag}", f"SKU-{tag}"
    now = datetime.now(UTC)
    today = now.astimezone(settings.zone).date().isoformat()
    admin = bearer(token_issuer.admin_token())
    try:
        async with (
            serve_app(create_app(settings)) as url,
            httpx.AsyncClient(base_url=url, timeout=10) as http,
        ):
            assert (await http.get("/readyz")).status_code == 200
            await send(
                producer,
                MemberRegisteredV1(
                    member_id=member,
                    email="a@example.com",
                    name="A",
                    locale="en",
                    registered_at=now,
                ),
            )
            await send(producer, placed(order_id, member, [(sku, "p-1", 2, 8000)], now))
            await send(
                producer, OrderConfirmedV1(order_id=order_id, member_id=member, total=cny(8000))
            )
            await send(
                producer,
                PaymentRefundedV1(
                    order_id=order_id, payment_id="p", refund_id="r", amount=cny(3000)
                ),
            )
            await send(
                producer,
                StockAdjustedV1(
                    sku=sku, delta=3, on_hand=3, reserved=0, available=3, reason="count"
                ),
            )

            async def totals() -> dict[str, object]:
                response = await http.get(
                    "/api/v1/admin/analytics/kpis",
                    params={"from": today, "to": today},
                    headers=admin,
                )
                assert response.status_code == 200, response.text
                body: dict[str, object] = response.json()["totals"]
                return body

            def kpis(t: dict[str, object]) -> tuple[object, ...]:
                return (
                    t["gmv"],
                    t["net_gmv"],
                    t["orders_paid"],
                    t["refund_amount"],
                    t["new_members"],
                )

            # The events travel on four topics, and order holds only within a partition, so
            # they are applied in no set order: wait for all of them, not the last one sent.
            expected = (8000, 5000, 1, 3000, 1)
            figures = await eventually(totals, lambda t: kpis(t) == expected, 20)
            assert kpis(figures) == expected
            low = await http.get("/api/v1/admin/analytics/low-stock", headers=admin)
            assert sku in {item["sku"] for item in low.json()["items"]}
    finally:
        await producer.stop()
