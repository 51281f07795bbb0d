"""The rebuild (`python -m analytics_service rebuild`): the scripted days published to a real
broker and applied as the service applies them, the KPIs read; then the projection spoiled (as a
changed definition leaves it), rebuilt from offset 0 of the topics, and the KPIs the same again;
and the same figures from a rebuild into a new, empty database."""

from __future__ import annotations

import uuid
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from analytics_service.config import AnalyticsSettings
from analytics_service.deps import AnalyticsRuntime
from analytics_service.service import rebuild
from analytics_service.tables import ORDERS, SKU_DAYS
from chassis.producer import EventProducer, OutgoingRecord
from chassis.testing.events import topic_of
from chassis.testing.infra import DatabaseFactory
from chassis.testing.tokens import TestTokenIssuer
from shared_events import Envelope, EventPayload, to_kafka

from .conftest import (
    Analytics,
    analytics_on,
    days_before_today,
    fresh_ids,
    scripted_days,
    scripted_interest,
)

pytestmark = pytest.mark.integration


class Published(Analytics):
    """The scripted days published to the broker (each envelope with the time its producer
    wrote) and applied to the projection through the service's consumers, as the running
    service would have."""

    producer: EventProducer

    async def deliver(
        self, payload: EventPayload, at: datetime, *, event_id: uuid.UUID | None = None
    ) -> Envelope:
        envelope = await super().deliver(payload, at, event_id=event_id)
        kafka = to_kafka(envelope)
        record = OutgoingRecord(topic_of(payload), kafka.key, kafka.value, list(kafka.headers))
        await self.producer.send_batch([record])
        return envelope


async def figures(a: Analytics, ids: dict[str, str], period: dict[str, str]) -> dict[str, Any]:
    """What an operator reads: the KPIs by day and category, one SKU, top products, stock."""
    return {
        "kpis": await a.json("/kpis", **period),
        "hours": await a.json("/kpis", granularity="hour", **period),
        "funnel": await a.json("/funnel", **period),
        "tea": await a.json(f"/skus/{ids['TEA']}", **period),
        "top": await a.json("/top-products", **period),
        "low": await a.json("/low-stock"),
    }


@pytest.mark.parametrize("engine", ["postgresql", "sqlite"])
async def test_a_rebuild_ends_with_the_same_figures(
    engine: str,
    create_database: DatabaseFactory,
    isolated_kafka: str,
    redis_url: str,
    token_issuer: TestTokenIssuer,
    tmp_path: Path,
) -> None:
    async def new_database(name: str) -> str:
        if engine == "postgresql":
            return await create_database(name)
        return f"sqlite+aiosqlite:///{tmp_path / f'{name}.db'}"

    settings = AnalyticsSettings(
        database_url=await new_database("analytics"),
        kafka_bootstrap_servers=isolated_kafka,
        redis_url=redis_url,
        jwks_url=token_issuer.jwks_url,  # type: ignore[attr-defined]
        environment="test",
    )
    days, ids = days_before_today(2), fresh_ids()
    period = {"from": days.first.isoformat(), "to": days.second.isoformat()}
    producer = EventProducer(isolated_kafka)
    await producer.start()
    try:
        async with analytics_on(settings, token_issuer) as a:
            published = Published(a.runtime, a.harness, a.http, a.admin, a.customer)
            published.producer = producer
            await scripted_days(published, days, ids)
            await scripted_interest(published, days, ids)  # views and cart adds: the funnel
            before = await figures(a, ids, period)
            assert before["kpis"]["totals"]["gmv"] == 32100  # test_kpis_api's hand count
            views = before["funnel"]["steps"][0]["count"]
            assert views == 8  # test_funnel_api's hand count: a rebuild must not double it
            await spoil(a.runtime)
            assert (await figures(a, ids, period)) != before

            lines: list[str] = []
            done = await rebuild.rebuild(settings, report=lines.append)
            assert (await figures(a, ids, period)) == before
            # Every record of the scripted days was read (O2's confirmation twice: published
            # twice, applied once), with its progress shown.
            assert done.events == len(a.harness.outcomes)
            assert done.group.startswith("analytics-rebuild-")
            assert done.rows["analytics_orders"] == 6
            assert lines[0].startswith("analytics rebuild: emptying the projection")
            assert lines[-1].startswith("  caught up in") and "6 orders" in lines[-1]
            assert any(f"{done.events}/{done.events} events (100%)" in line for line in lines)

            # Again: the same figures (a rebuild empties what a previous one left).
            await rebuild.rebuild(settings, report=lines.append)
            assert (await figures(a, ids, period)) == before

        # Into a new, empty database (migrated by the rebuild itself): the same figures there.
        fresh = settings.model_copy(update={"database_url": await new_database("rebuilt")})
        await rebuild.rebuild(fresh, report=lines.append)
        async with analytics_on(fresh, token_issuer) as b:
            assert (await figures(b, ids, period)) == before
    finally:
        await producer.stop()


async def spoil(runtime: AnalyticsRuntime) -> None:
    """What a changed definition leaves behind: stored facts that no longer match the
    figures the events give (amounts converted at another rate, a day moved)."""
    async with runtime.database.engine.begin() as conn:
        await conn.execute(sa.update(ORDERS).values(total_cny=ORDERS.c.total_cny + 1))
        await conn.execute(sa.update(SKU_DAYS).values(gmv_cny=0))
