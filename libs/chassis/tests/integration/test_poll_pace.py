"""The consumer's pace on the real broker: after a quiet spell the fetch and poll waits are
raised to their idle values, and the next record is still handled and lowers them again."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from chassis.consumer import ConsumerRunner, Delivery, EventConsumer
from chassis.db import Database
from chassis.poll_pace import PaceSettings, fetch_wait_of
from chassis.producer import EventProducer, ensure_topics
from chassis.settings import ServiceSettings
from chassis.testing.kafka import subscribed
from chassis.testing.polling import eventually
from shared_events.catalog import ProductUnpublishedV1

from .test_consumer_lag import produce

pytestmark = pytest.mark.integration

PACE = PaceSettings(
    busy_fetch_ms=50, busy_poll_ms=20, idle_fetch_ms=400, idle_poll_ms=150, quiet_seconds=0.5
)


async def test_waits_rise_when_quiet_and_fall_with_the_next_record(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    group = f"pace-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"], partitions=1)
    handled: list[str] = []

    async def note(delivery: Delivery, payload: ProductUnpublishedV1) -> None:
        handled.append(payload.product_id)

    runner = ConsumerRunner(
        EventConsumer(group, topic, {ProductUnpublishedV1: note}), database, producer, service="t"
    )
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers)
    broker, pace = subscribed(settings, runner, group_id=group, pace=PACE)
    await broker.start()
    pace.start()
    subscriber = pace.subscriber
    try:
        await produce(producer, topic, 2, group)
        assert await eventually(lambda: asyncio.sleep(0, len(handled)), lambda n: n == 2) == 2
        assert subscriber.consumer is not None
        assert fetch_wait_of(subscriber.consumer) == 50
        assert subscriber.batch_timeout_ms == 20

        # Nothing for longer than quiet_seconds: both waits at their idle values.
        assert await eventually(lambda: asyncio.sleep(0, pace.idle), bool, timeout=5) is True
        assert fetch_wait_of(subscriber.consumer) == 400
        assert subscriber.batch_timeout_ms == 150

        # A record in the quiet: handled, and the busy waits are back.
        await produce(producer, topic, 1, f"{group}-late")
        assert await eventually(lambda: asyncio.sleep(0, len(handled)), lambda n: n == 3) == 3
        assert pace.idle is False
        assert fetch_wait_of(subscriber.consumer) == 50
        assert subscriber.batch_timeout_ms == 20
    finally:
        await pace.stop()
        await broker.stop()


def test_unpaced_when_the_idle_waits_are_the_busy_ones() -> None:
    assert PACE.paced
    assert not PaceSettings(
        busy_fetch_ms=500, idle_fetch_ms=500, busy_poll_ms=20, idle_poll_ms=20
    ).paced
