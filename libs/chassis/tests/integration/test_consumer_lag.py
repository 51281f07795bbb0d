"""Consumer lag on the real broker: the `events_consumer_lag` gauge of a group that is behind,
caught up, and gone; and the committed lag of a stopped group that records were produced for."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from prometheus_client import REGISTRY, generate_latest

from chassis.consumer import ConsumerRunner, Delivery, EventConsumer
from chassis.consumer_lag import LiveLag, committed_lag
from chassis.db import Database
from chassis.metrics import refresh_on_scrape
from chassis.producer import EventProducer, ensure_topics
from chassis.settings import ServiceSettings
from chassis.testing.kafka import subscribed
from chassis.testing.polling import eventually
from shared_events import to_kafka
from shared_events.catalog import ProductUnpublishedV1

from .test_dead_letters import unpublished

pytestmark = pytest.mark.integration


async def produce(producer: EventProducer, topic: str, count: int, prefix: str) -> None:
    for n in range(count):
        record = to_kafka(unpublished(f"{prefix}:{n}", prefix))
        await producer.send_raw(topic, record.value, record.key, record.headers)


def lag_of(group: str, topic: str) -> float | None:
    return REGISTRY.get_sample_value(
        "events_consumer_lag", {"group": group, "topic": topic, "partition": "0"}
    )


async def test_the_gauge_follows_a_group_behind_then_caught_up_then_gone(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    group = f"lag-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"], partitions=1)
    await produce(producer, topic, 10, group)  # before anybody consumes the topic

    gate = asyncio.Event()
    polls: list[int] = []

    async def slow(delivery: Delivery, payload: ProductUnpublishedV1) -> None:
        if len(polls) >= 3:  # the fourth record on: held until the test looked
            await gate.wait()
        polls.append(1)

    runner = ConsumerRunner(
        EventConsumer(group, topic, {ProductUnpublishedV1: slow}), database, producer, service="t"
    )
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers)
    lag = LiveLag(group)
    broker, _ = subscribed(settings, runner, group_id=group, lag=lag, batch_size=3)
    await broker.start()
    lag.watch()
    try:

        async def scraped() -> float | None:
            await refresh_on_scrape()
            return lag_of(group, topic)

        # The first poll (3 of 10) handled, the second (3 more) held at its first record: the
        # consumer has taken 6, so a scrape finds 4 not taken yet.
        assert await eventually(scraped, lambda v: v == 4) == 4
        text = generate_latest(REGISTRY).decode()
        assert f'events_consumer_lag{{group="{group}",partition="0",topic="{topic}"}} 4.0' in text

        gate.set()

        assert await eventually(scraped, lambda v: v == 0) == 0
        await produce(producer, topic, 4, group)  # while it runs: taken, and 0 again
        handled = await eventually(lambda: asyncio.sleep(0, len(polls)), lambda n: n == 14)
        assert handled == 14
        assert await scraped() == 0
    finally:
        lag.unwatch()
        await broker.stop()
    assert lag_of(group, topic) is None  # a stopped group reports nothing of its own

    # Stopped: what the broker holds past its committed offset is its lag.
    await produce(producer, topic, 5, group)

    async def committed() -> list[tuple[str, int, int]]:
        return [
            (lag.topic, lag.partition, lag.lag)
            for lag in await committed_lag(kafka_bootstrap_servers)
            if lag.group == group
        ]

    assert await eventually(committed, lambda rows: rows == [(topic, 0, 5)]) == [(topic, 0, 5)]
