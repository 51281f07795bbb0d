"""Batch-first consumers on the real broker and PostgreSQL: one transaction per partition's
records of a poll, duplicates inside a batch, a poison record in the middle of one, and two
instances of a service sharing a topic's partitions through a rebalance."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from typing import Any

import anyio
import pytest
import sqlalchemy as sa
from aiokafka import ConsumerRecord
from sqlalchemy import event

from chassis.consumer import ConsumerRunner, Delivery, EventConsumer
from chassis.db import Database
from chassis.producer import EventProducer, ensure_topics
from chassis.settings import ServiceSettings
from chassis.testing.kafka import header, read_records, subscribed
from chassis.testing.polling import eventually
from shared_events import to_kafka
from shared_events.catalog import ProductUnpublishedV1

from .conftest import effects
from .test_dead_letters import unpublished

pytestmark = pytest.mark.integration


def sequenced(applied: list[str]) -> Any:
    """A handler that writes one effect row per event (subject = the product id, which the
    tests use as `key:sequence`) and notes the order it was called in. The product id
    "poison" fails every time."""

    async def apply(delivery: Delivery, payload: ProductUnpublishedV1) -> None:
        applied.append(payload.product_id)
        if payload.product_id.endswith(":poison"):
            raise ValueError("this event cannot be applied")
        await delivery.session.exec(
            sa.insert(effects).values(
                event_id=str(delivery.envelope.id), subject=payload.product_id
            )
        )

    return apply


async def effect_rows(database: Database, prefix: str) -> list[str]:
    """The effect rows written under `prefix`, in the order they were written."""
    async with database.engine.connect() as connection:
        rows = await connection.execute(
            sa.select(effects.c.subject)
            .where(effects.c.subject.like(f"{prefix}%"))
            .order_by(effects.c.id)
        )
        return [row[0] for row in rows]


def count_commits(database: Database) -> list[int]:
    commits: list[int] = []
    event.listen(database.engine.sync_engine, "commit", lambda _: commits.append(1))
    return commits


async def produce(
    producer: EventProducer, bootstrap: str, topic: str, events: list[tuple[str, str]]
) -> list[ConsumerRecord[bytes, bytes]]:
    """Send (key, product id) events in order; return them as a consumer reads them."""
    ids = set()
    for key, product_id in events:
        envelope = unpublished(product_id, key)
        ids.add(str(envelope.id))
        record = to_kafka(envelope)
        await producer.send_raw(topic, record.value, record.key, record.headers)
    return await read_records(
        bootstrap,
        topic,
        until=lambda kept: len(kept) >= len(events),
        match=lambda r: header(r, "ce_id") in ids,
    )


async def test_a_batch_with_a_duplicate_inside_applies_each_event_once_in_one_transaction(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"], partitions=1)
    prefix = uuid.uuid4().hex[:8]
    records = await produce(
        producer, kafka_bootstrap_servers, topic, [(prefix, f"{prefix}:{n}") for n in range(5)]
    )
    # The third event delivered twice in the same poll (a redelivery after a rewind).
    batch = [*records[:3], records[2], *records[3:]]
    applied: list[str] = []
    runner = ConsumerRunner(
        EventConsumer(f"dup-{prefix}", topic, {ProductUnpublishedV1: sequenced(applied)}),
        database,
        producer,
        service="test",
    )
    commits = count_commits(database)
    await runner.handle_batch(batch)

    assert await effect_rows(database, prefix) == [f"{prefix}:{n}" for n in range(5)]
    assert applied == [f"{prefix}:{n}" for n in range(5)]
    assert len(commits) == 1  # the whole batch, inbox claims included, in one transaction
    # Delivered again later (the offset commit was lost): nothing happens twice.
    await runner.handle_batch(records)
    assert await effect_rows(database, prefix) == [f"{prefix}:{n}" for n in range(5)]


async def test_a_poison_record_in_the_middle_is_dead_lettered_and_the_others_commit_once(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"], partitions=1)
    prefix = uuid.uuid4().hex[:8]
    names = [f"{prefix}:0", f"{prefix}:1", f"{prefix}:poison", f"{prefix}:3", f"{prefix}:4"]
    records = await produce(
        producer, kafka_bootstrap_servers, topic, [(prefix, name) for name in names]
    )
    applied: list[str] = []
    runner = ConsumerRunner(
        EventConsumer(f"poison-{prefix}", topic, {ProductUnpublishedV1: sequenced(applied)}),
        database,
        producer,
        service="test",
        max_attempts=3,
        backoff_seconds=0.01,
    )
    await runner.handle_batch(records)

    # The others applied once each, in the partition's order.
    assert await effect_rows(database, prefix) == [n for n in names if "poison" not in n]
    # The poison tried max_attempts times in all (the batch's try counts), then dead-lettered.
    assert applied.count(f"{prefix}:poison") == 3
    dead = await read_records(kafka_bootstrap_servers, f"{topic}.dlq", until=lambda k: len(k) >= 1)
    assert [header(r, "ce_id") for r in dead] == [header(records[2], "ce_id")]
    assert header(dead[0], "dlq_attempts") == "3"
    assert header(dead[0], "dlq_consumer") == f"poison-{prefix}"


async def test_two_instances_share_the_partitions_through_a_rebalance(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    """Two replicas of one service in one consumer group; a third joins and the first leaves
    while events flow. Every event is applied exactly once and each key's in its order."""
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"], partitions=6)
    prefix = uuid.uuid4().hex[:8]
    group = f"rebalance-{prefix}"
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers)

    def instance() -> Any:
        runner = ConsumerRunner(
            EventConsumer(group, topic, {ProductUnpublishedV1: sequenced([])}),
            database,
            producer,
            service="test",
        )
        broker, _ = subscribed(settings, runner, group_id=group, concurrency=6)
        return broker

    keys = [f"{prefix}-k{n}" for n in range(12)]
    per_key = 25

    async def load(rounds: range) -> None:
        for seq in rounds:
            for key in keys:
                record = to_kafka(unpublished(f"{key}:{seq:03d}", key))
                await producer.send_raw(topic, record.value, record.key, record.headers)
            await asyncio.sleep(0.01)

    first, second, third = instance(), instance(), instance()
    await asyncio.gather(first.start(), second.start())
    try:
        await load(range(0, 10))
        await third.start()  # a rebalance in the middle of the load
        await load(range(10, 18))
        await first.stop()  # and another: the leaver's partitions move
        await load(range(18, per_key))

        rows = await eventually(
            lambda: effect_rows(database, prefix),
            lambda rows: len(rows) >= len(keys) * per_key,
            timeout=60,
        )
    finally:
        await asyncio.gather(second.stop(), third.stop(), return_exceptions=True)
        await first.stop()

    assert len(rows) == len(set(rows)) == len(keys) * per_key  # nothing lost, nothing twice
    by_key: dict[str, list[str]] = defaultdict(list)
    for subject in rows:
        key, seq = subject.rsplit(":", 1)
        by_key[key].append(seq)
    assert all(seqs == sorted(seqs) for seqs in by_key.values())  # each key in its order


async def test_a_poll_is_handled_on_the_event_loop_without_a_worker_thread(
    database: Database,
    producer: EventProducer,
    kafka_bootstrap_servers: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The subscriber takes the message as it is: nothing is injected, so no poll hops to
    anyio's thread pool (fast_depends ran FastStream's synchronous context field there)."""
    hops: list[object] = []
    run_sync = anyio.to_thread.run_sync

    async def counted(func: Any, *args: Any, **kwargs: Any) -> Any:
        hops.append(func)
        return await run_sync(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counted)
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"], partitions=1)
    prefix = uuid.uuid4().hex[:8]
    await produce(
        producer, kafka_bootstrap_servers, topic, [(prefix, f"{prefix}:{n}") for n in range(5)]
    )
    runner = ConsumerRunner(
        EventConsumer(f"loop-{prefix}", topic, {ProductUnpublishedV1: sequenced([])}),
        database,
        producer,
        service="test",
    )
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers)
    broker, _ = subscribed(settings, runner, group_id=f"loop-{prefix}")
    await broker.start()
    try:
        rows = await eventually(
            lambda: effect_rows(database, prefix), lambda rows: len(rows) >= 5, timeout=30
        )
    finally:
        await broker.stop()

    assert rows == [f"{prefix}:{n}" for n in range(5)]
    assert hops == []
