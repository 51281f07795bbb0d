"""Offset commits gathered over an interval (chassis.offset_commits) on the real broker: several
polls committed by one request, within the interval, at stop, and before a rebalance takes
partitions away (the new owner gets nothing the old one handled)."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer
from faststream.kafka import KafkaBroker

from chassis.consumer import ConsumerRunner, Delivery, EventConsumer
from chassis.consumer_lag import committed_lag
from chassis.db import Database
from chassis.offset_commits import OffsetCommits
from chassis.producer import EventProducer, ensure_topics
from chassis.settings import ServiceSettings
from chassis.testing.infra import TansuBroker, free_port
from chassis.testing.kafka import subscribed
from chassis.testing.polling import eventually
from shared_events import to_kafka
from shared_events.catalog import ProductUnpublishedV1

from .conftest import handler_outcomes
from .test_dead_letters import unpublished

pytestmark = pytest.mark.integration


async def produce(producer: EventProducer, topic: str, keys: list[str]) -> None:
    for key in keys:
        record = to_kafka(unpublished(f"{key}:{uuid.uuid4().hex[:6]}", key))
        await producer.send_raw(topic, record.value, record.key, record.headers)


def member(
    database: Database,
    producer: EventProducer,
    settings: ServiceSettings,
    topic: str,
    group: str,
    commits: OffsetCommits,
    seen: list[str],
) -> KafkaBroker:
    async def apply(delivery: Delivery, payload: ProductUnpublishedV1) -> None:
        seen.append(payload.product_id)

    runner = ConsumerRunner(
        EventConsumer(group, topic, {ProductUnpublishedV1: apply}), database, producer, service="t"
    )
    broker, _ = subscribed(settings, runner, group_id=group, commits=commits)
    return broker


async def committed(bootstrap: str, group: str) -> dict[int, int]:
    """The group's lag per partition, of the partitions it has committed an offset on."""
    return {lag.partition: lag.lag for lag in await committed_lag(bootstrap) if lag.group == group}


async def test_polls_are_committed_together_within_the_interval_and_at_stop(
    database: Database,
    producer: EventProducer,
    kafka_bootstrap_servers: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    group = f"commits-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"], partitions=1)
    requests: list[dict[Any, int]] = []
    commit = AIOKafkaConsumer.commit

    async def counted(self: AIOKafkaConsumer, offsets: Any = None) -> None:
        requests.append(dict(offsets or {}))
        await commit(self, offsets)

    monkeypatch.setattr(AIOKafkaConsumer, "commit", counted)
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers)
    commits = OffsetCommits(interval_seconds=60)
    seen: list[str] = []
    broker = member(database, producer, settings, topic, group, commits, seen)
    await broker.start()
    try:
        for burst in range(3):  # three polls, each handled before the next is produced
            await produce(producer, topic, [f"k{burst}", f"k{burst}"])
            want = 2 * burst + 2
            await eventually(lambda: asyncio.sleep(0, len(seen)), lambda n, want=want: n == want)
        assert requests == []  # handled, not committed yet: the interval has not passed
        assert await committed(kafka_bootstrap_servers, group) == {}
        await commits.stop()  # as the consumer group does before its consumer stops
    finally:
        await broker.stop()
    assert [list(r.values()) for r in requests] == [[6]]  # the three polls in one request
    assert await committed(kafka_bootstrap_servers, group) == {0: 0}

    # A short interval commits on its own, a moment after the poll.
    again = OffsetCommits(interval_seconds=0.2)
    broker = member(database, producer, settings, topic, group, again, seen)
    await broker.start()
    try:
        await produce(producer, topic, ["k9"])
        await eventually(lambda: asyncio.sleep(0, len(seen)), lambda n: n == 7)
        assert await eventually(
            lambda: committed(kafka_bootstrap_servers, group), lambda lag: lag == {0: 0}
        ) == {0: 0}
        assert [list(r.values()) for r in requests] == [[6], [7]]
    finally:
        await broker.stop()


async def test_a_rebalance_commits_what_was_handled_before_partitions_move(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    group = f"revoke-{uuid.uuid4().hex[:8]}"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"], partitions=6)
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers)
    keys = [f"key-{n}" for n in range(24)]  # spread over the six partitions
    first_seen: list[str] = []
    second_seen: list[str] = []
    # An interval far longer than the test: only the revocation (or stop) can commit.
    first = member(database, producer, settings, topic, group, OffsetCommits(600), first_seen)
    second = member(database, producer, settings, topic, group, OffsetCommits(600), second_seen)
    await first.start()
    try:
        await produce(producer, topic, keys)
        await eventually(lambda: asyncio.sleep(0, len(first_seen)), lambda n: n == len(keys))
        await second.start()  # joins: every partition is revoked, then shared out
        await produce(producer, topic, keys)
        await eventually(
            lambda: asyncio.sleep(0, len(first_seen) + len(second_seen)),
            lambda n: n == 2 * len(keys),
            timeout=60,
        )
        await asyncio.sleep(1)  # time for anything delivered again to arrive
    finally:
        await asyncio.gather(first.stop(), second.stop(), return_exceptions=True)
    assert second_seen  # the newcomer got partitions, and only records nobody had handled
    outcomes = handler_outcomes(group)
    assert outcomes.get("duplicate", 0) == 0
    assert outcomes.get("handled") == 2 * len(keys)


async def test_a_stop_gives_up_its_commit_when_the_broker_hangs(database: Database) -> None:
    """aiokafka retries a commit to a coordinator that never answers for ever: the stop gives
    up after a moment (the records come again after the restart, the inbox drops them), so
    the service's other stop steps still run. On a broker of its own, stopped (SIGSTOP)."""
    kafka = TansuBroker(free_port())
    kafka.start()
    assert kafka.process is not None
    producer = EventProducer(kafka.bootstrap)
    await producer.start()
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka.bootstrap, [topic, f"{topic}.dlq"], partitions=1)
    settings = ServiceSettings(kafka_bootstrap_servers=kafka.bootstrap)
    commits = OffsetCommits(interval_seconds=600)  # only the stop commits
    seen: list[str] = []
    broker = member(database, producer, settings, topic, "hung", commits, seen)
    await broker.start()
    try:
        await produce(producer, topic, ["k1"])
        await eventually(lambda: asyncio.sleep(0, len(seen)), lambda n: n == 1)
        os.kill(kafka.process.pid, signal.SIGSTOP)
        # Unbounded, this waits for ever (the outer bound only keeps a failure from hanging).
        await asyncio.wait_for(commits.stop(timeout=0.5), 30)
    finally:
        os.kill(kafka.process.pid, signal.SIGCONT)
        await broker.stop()
        await producer.stop()
        kafka.stop()
