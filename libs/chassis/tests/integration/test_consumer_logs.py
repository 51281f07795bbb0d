"""Consumers log nothing per record at INFO (FastStream's "Received" / "Processed" lines are off,
chassis.broker), while an error escaping a subscriber is still logged at ERROR."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence

import pytest

from chassis.broker import make_broker, subscribe
from chassis.consumer import ConsumerRunner, EventConsumer, IncomingRecord
from chassis.db import Database
from chassis.producer import EventProducer, ensure_topics
from chassis.settings import ServiceSettings
from chassis.testing.kafka import subscribed
from shared_events import to_kafka
from shared_events.catalog import ProductUnpublishedV1

from .test_dead_letters import unpublished

pytestmark = pytest.mark.integration


async def wait_for(condition: object, timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not condition():  # type: ignore[operator]
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.1)


async def test_handled_records_log_nothing_at_info(
    database: Database,
    producer: EventProducer,
    kafka_bootstrap_servers: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"])
    handled: list[str] = []

    async def apply(_: object, payload: ProductUnpublishedV1) -> None:
        handled.append(payload.product_id)

    runner = ConsumerRunner(
        EventConsumer("quiet-test", topic, {ProductUnpublishedV1: apply}),
        database,
        producer,
        service="test",
    )
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers)
    broker, _ = subscribed(settings, runner, group_id="quiet-test")
    caplog.set_level(logging.INFO)
    await broker.start()
    try:
        caplog.clear()  # start-up lines ("waiting for messages") are once per subscriber
        for n in range(10):
            record = to_kafka(unpublished(f"p-{n}", f"key-{n}"))
            await producer.send_raw(topic, record.value, record.key, record.headers)
        await wait_for(lambda: len(handled) == 10)
        await asyncio.sleep(0.5)  # the offsets commit after the handler
        while_consuming = list(caplog.records)  # stopping logs once per subscriber
    finally:
        await broker.stop()
    per_record = [
        r
        for r in while_consuming
        if r.levelno >= logging.INFO and r.name.startswith(("chassis", "faststream"))
    ]
    assert per_record == [], [(r.name, r.getMessage()) for r in per_record]


class FailsOnce:
    """A service consumer whose first batch fails (as when the DLQ cannot be written)."""

    def __init__(self, topic: str) -> None:
        self.topics = [topic]
        self.calls = 0

    async def handle_batch(self, records: Sequence[IncomingRecord], concurrency: int = 1) -> None:
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("dead-letter topic unreachable")


async def test_an_error_escaping_a_subscriber_is_still_logged(
    producer: EventProducer, kafka_bootstrap_servers: str, caplog: pytest.LogCaptureFixture
) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka_bootstrap_servers, [topic])
    runner = FailsOnce(topic)
    broker = make_broker(ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers))
    subscribe(broker, runner, group_id="loud-test")  # type: ignore[arg-type]
    caplog.set_level(logging.INFO)
    await broker.start()
    try:
        record = to_kafka(unpublished("p-loud", "key"))
        await producer.send_raw(topic, record.value, record.key, record.headers)
        await wait_for(lambda: runner.calls >= 2)  # redelivered after the error
    finally:
        await broker.stop()
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("dead-letter topic unreachable" in r.getMessage() for r in errors), errors
