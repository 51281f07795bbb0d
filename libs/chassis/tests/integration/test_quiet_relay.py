"""The relay without a timer-driven COUNT and with a slow sweep: the backlog gauge is counted
when /metrics is scraped, and a commit still wakes the relay at once."""

from __future__ import annotations

import asyncio
import time
import uuid

import httpx
import pytest
from fastapi import FastAPI

from chassis import health
from chassis.db import Database
from chassis.outbox import Outbox, OutboxRelay
from chassis.producer import EventProducer, OutgoingRecord, ensure_topics
from chassis.testing.kafka import header, read_keyed
from shared_events.topics import CATALOG_EVENTS

from .test_outbox_inbox import stage_unpublished

pytestmark = pytest.mark.integration


class HeldProducer:
    """Takes a batch and acknowledges it only when released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.sent: list[OutgoingRecord] = []

    async def send_batch(self, records: list[OutgoingRecord]) -> None:
        await self.release.wait()
        self.sent += records


async def scraped_backlog(service: str) -> float | None:
    app = FastAPI()
    app.include_router(health.router)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        text = (await client.get("/metrics")).text
    for line in text.splitlines():
        if line.startswith(f'outbox_backlog{{service="{service}"}}'):
            return float(line.split()[-1])
    return None


async def test_the_backlog_gauge_is_counted_when_metrics_are_scraped(database: Database) -> None:
    service = f"gauge-{uuid.uuid4().hex[:6]}"
    outbox = Outbox("/services/test")
    for n in range(3):
        await stage_unpublished(database, outbox, f"p-{n}")
    producer = HeldProducer()
    relay = OutboxRelay(database, outbox, producer, service=service, poll_seconds=60)  # type: ignore[arg-type]
    relay.start()
    try:
        # The relay holds the batch (broker not acknowledging): three rows still unsent.
        assert await scraped_backlog(service) == 3
        producer.release.set()
        for _ in range(100):
            if await scraped_backlog(service) == 0:
                break
            await asyncio.sleep(0.1)
        assert await scraped_backlog(service) == 0
        assert len(producer.sent) == 3
    finally:
        await relay.stop()
    # A stopped relay's hook is gone: the gauge keeps its last value, nothing is queried.
    await stage_unpublished(database, outbox, "p-late")
    assert await scraped_backlog(service) == 0


async def test_a_commit_wakes_the_relay_long_before_its_sweep(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    await ensure_topics(kafka_bootstrap_servers, [CATALOG_EVENTS])
    outbox = Outbox("/services/test")
    relay = OutboxRelay(database, outbox, producer, service="wake-test", poll_seconds=600)
    relay.start()
    try:
        await asyncio.sleep(0.5)  # the relay found nothing and sleeps until the sweep
        product_id = f"p-{uuid.uuid4()}"
        started = time.monotonic()
        envelope = await stage_unpublished(database, outbox, product_id)
        records = await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 1)
        assert time.monotonic() - started < 60  # woken by the commit, not the 600 s sweep
    finally:
        await relay.stop()
    assert [header(r, "ce_id") for r in records] == [str(envelope.id)]
