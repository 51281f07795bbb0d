"""The batch linger on the real broker: while records flow, a consumer with a linger polls no
more often than that, so its records come in a few larger batches (one transaction each);
a full batch (a backlog) is followed at once."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Sequence

import pytest
from faststream.kafka import KafkaBroker

from chassis.broker import make_broker, subscribe
from chassis.consumer import (
    ConsumerRunner,
    Delivery,
    EventConsumer,
    IncomingRecord,
    ServiceConsumer,
)
from chassis.db import Database
from chassis.producer import EventProducer, ensure_topics
from chassis.settings import OFF_PATH_BATCH_LINGER_MS, OffPathSettings, ServiceSettings
from chassis.testing.polling import eventually
from shared_events.catalog import ProductUnpublishedV1

from .test_consumer_lag import produce

pytestmark = pytest.mark.integration


class BatchLog(ServiceConsumer):
    """The service consumer, noting when each poll's batch began and how many records it had."""

    def __init__(self, runners: Sequence[ConsumerRunner]) -> None:
        super().__init__(runners)
        self.batches: list[tuple[float, int]] = []

    async def handle_batch(self, records: Sequence[IncomingRecord], concurrency: int = 1) -> None:
        self.batches.append((time.monotonic(), len(records)))
        await super().handle_batch(records, concurrency)


async def consuming(
    database: Database,
    producer: EventProducer,
    bootstrap: str,
    *,
    linger_ms: int,
    batch_size: int,
    preload: int = 0,
) -> tuple[str, BatchLog, list[str], KafkaBroker]:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    group = f"linger-{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    if preload:
        await produce(producer, topic, preload, group)
    handled: list[str] = []

    async def note(delivery: Delivery, payload: ProductUnpublishedV1) -> None:
        handled.append(payload.product_id)

    runner = ConsumerRunner(
        EventConsumer(group, topic, {ProductUnpublishedV1: note}), database, producer, service="t"
    )
    log = BatchLog([runner])
    broker = make_broker(ServiceSettings(kafka_bootstrap_servers=bootstrap))
    subscribe(broker, log, group_id=group, linger_ms=linger_ms, batch_size=batch_size)
    await broker.start()
    return topic, log, handled, broker


async def test_records_that_flow_come_in_batches_no_closer_than_the_linger(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    topic, log, handled, broker = await consuming(
        database, producer, kafka_bootstrap_servers, linger_ms=500, batch_size=100
    )
    try:
        sent: list[str] = []
        for n in range(30):  # a steady flow: one record every 30 ms
            await produce(producer, topic, 1, f"flow-{n}")
            sent.append(f"flow-{n}:0")
            await asyncio.sleep(0.03)
        await eventually(lambda: asyncio.sleep(0, len(handled)), lambda n: n >= 30, timeout=10)
        assert handled == sent  # each once, in the partition's order
        # Every poll after one that was not full began a whole linger after it...
        gaps = [b[0] - a[0] for a, b in zip(log.batches, log.batches[1:], strict=False)]
        assert all(gap >= 0.499 for gap in gaps), gaps
        # ...so 30 records took a few transactions, not one each.
        assert len(log.batches) <= 10, log.batches
    finally:
        await broker.stop()


async def test_a_full_batch_is_followed_at_once(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    _, log, handled, broker = await consuming(
        database, producer, kafka_bootstrap_servers, linger_ms=3000, batch_size=5, preload=20
    )
    try:
        await eventually(lambda: asyncio.sleep(0, len(handled)), lambda n: n >= 20, timeout=10)
        assert [size for _, size in log.batches[:4]] == [5, 5, 5, 5]
        # A backlog is worked off without waiting for the linger between its batches.
        starts = [at for at, _ in log.batches[:4]]
        assert starts[-1] - starts[0] < 3.0, log.batches
    finally:
        await broker.stop()


def test_a_service_off_the_orders_path_lingers_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("KAFKA_BATCH_LINGER_MS", raising=False)
    assert ServiceSettings().kafka_batch_linger_ms == 0
    assert OffPathSettings().kafka_batch_linger_ms == OFF_PATH_BATCH_LINGER_MS
    monkeypatch.setenv("KAFKA_BATCH_LINGER_MS", "0")
    assert OffPathSettings().kafka_batch_linger_ms == 0
