"""Reading topics back in tests, with a real consumer."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition
from faststream.kafka import KafkaBroker

from chassis.broker import make_broker, subscribe
from chassis.consumer import ConsumerRunner, ServiceConsumer
from chassis.poll_pace import PollPace
from chassis.settings import ServiceSettings
from shared_events import Envelope, from_kafka


async def read_records(
    bootstrap: str,
    topic: str,
    *,
    until: Callable[[list[ConsumerRecord[bytes, bytes]]], bool],
    match: Callable[[ConsumerRecord[bytes, bytes]], bool] = lambda _: True,
    timeout: float = 20.0,
) -> list[ConsumerRecord[bytes, bytes]]:
    """Read every partition of `topic` from the beginning (no consumer group, so no rebalance
    wait); keep records that `match` until `until(kept)` holds or `timeout` passes. Returns
    what was kept either way."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        client_id=f"test-reader-{uuid.uuid4().hex[:8]}",
    )
    await consumer.start()
    partitions = consumer.partitions_for_topic(topic)
    if not partitions:
        await consumer._client.force_metadata_update()
        partitions = consumer.partitions_for_topic(topic) or set()
    consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
    await consumer.seek_to_beginning()
    kept: list[ConsumerRecord[bytes, bytes]] = []
    # A record is kept once per offset: a reader's own re-fetch is not a second record on the
    # topic (one published twice has two offsets, and both are kept).
    seen: set[tuple[int, int]] = set()
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    try:
        while not until(kept) and loop.time() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            for records in batches.values():
                for record in records:
                    if (record.partition, record.offset) not in seen and match(record):
                        seen.add((record.partition, record.offset))
                        kept.append(record)
    finally:
        await consumer.stop()
    return kept


def header(record: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in record.headers:
        if key == name:
            return str(value.decode())
    return None


async def read_keyed(
    bootstrap: str, topic: str, key: str, count: int, *, timeout: float = 20.0
) -> list[ConsumerRecord[bytes, bytes]]:
    """The records of one aggregate (one Kafka key), waiting until `count` arrived."""
    return await read_records(
        bootstrap,
        topic,
        match=lambda r: r.key == key.encode(),
        until=lambda kept: len(kept) >= count,
        timeout=timeout,
    )


async def read_envelopes(
    bootstrap: str,
    topic: str,
    *,
    key: str | None = None,
    until: Callable[[list[Envelope]], bool],
    timeout: float = 20.0,
) -> list[Envelope]:
    """The events on `topic` (of one Kafka key, or all), read as envelopes until `until` holds
    or `timeout` passes; what was read either way, for the caller's assertion to judge."""

    def parsed(records: list[ConsumerRecord[bytes, bytes]]) -> list[Envelope]:
        return [from_kafka(record.value, record.headers) for record in records]

    wanted = None if key is None else key.encode()
    records = await read_records(
        bootstrap,
        topic,
        match=lambda record: wanted is None or record.key == wanted,
        until=lambda kept: until(parsed(kept)),
        timeout=timeout,
    )
    return parsed(records)


def subscribed(
    settings: ServiceSettings, runner: ConsumerRunner, *, group_id: str, **options: Any
) -> tuple[KafkaBroker, PollPace]:
    """A broker whose one subscriber runs `runner` as a service's consumer does (one group, the
    settings' session timeout); `options` go to `chassis.broker.subscribe`. Start the broker,
    then the returned pace."""
    broker = make_broker(settings)
    pace = subscribe(
        broker,
        ServiceConsumer([runner]),
        group_id=group_id,
        session_timeout_ms=settings.kafka_session_timeout_ms,
        **options,
    )
    return broker, pace
