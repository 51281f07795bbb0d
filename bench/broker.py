"""The broker side: a consumer that reads a topic from its end, and the raw produce-to-consume
round trip that the order rate is compared with."""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.stats import percentile
from chassis.producer import EventProducer, OutgoingRecord, ensure_topics
from chassis.settings import ServiceSettings

# The services' own fetch wait (KAFKA_FETCH_MAX_WAIT_MS): under load the embedded broker answers
# an empty fetch only after it, so a consumer with a longer wait sees every hop later.
FETCH_MAX_WAIT_MS = ServiceSettings().kafka_fetch_max_wait_ms


async def tail_consumer(bootstrap: str, topic: str) -> AIOKafkaConsumer:
    """A consumer without a group, on every partition of `topic`, positioned at the end now."""
    consumer = AIOKafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, fetch_max_wait_ms=FETCH_MAX_WAIT_MS
    )
    await consumer.start()
    partitions = await wait_for_partitions(consumer, topic)
    consumer.assign(partitions)
    await consumer.seek_to_end(*partitions)
    for partition in partitions:
        await consumer.position(partition)  # resolve the end offsets before anything is sent
    return consumer


async def wait_for_partitions(
    consumer: AIOKafkaConsumer, topic: str, timeout: float = 20
) -> list[TopicPartition]:
    deadline = time.monotonic() + timeout
    while not (found := consumer.partitions_for_topic(topic)):
        if time.monotonic() > deadline:
            raise RuntimeError(f"topic {topic} has no partitions after {timeout} s")
        await consumer._client.force_metadata_update()
        await asyncio.sleep(0.2)
    return [TopicPartition(topic, p) for p in sorted(found)]


@dataclass
class RoundTrip:
    messages_per_s: float
    flood_messages: int
    ping_p50_ms: float
    ping_p99_ms: float
    pings: int


async def round_trip(bootstrap: str, flood: int, pings: int) -> RoundTrip:
    """Producer (the services' own settings) to consumer on a topic of its own: `flood`
    messages sent in batches of 200 (as the relay sends), then `pings` one at a time."""
    topic = f"bench.roundtrip.{uuid.uuid4().hex[:8]}"
    await ensure_topics(bootstrap, [topic])
    producer = EventProducer(bootstrap)
    await producer.start()
    consumer = await tail_consumer(bootstrap, topic)
    try:
        rate = await flood_rate(producer, consumer, topic, flood)
        latencies = [await ping(producer, consumer, topic, i) for i in range(pings)]
    finally:
        await consumer.stop()
        await producer.stop()
    return RoundTrip(
        messages_per_s=rate,
        flood_messages=flood,
        ping_p50_ms=percentile(latencies, 50) * 1000,
        ping_p99_ms=percentile(latencies, 99) * 1000,
        pings=pings,
    )


def record(topic: str, i: int) -> OutgoingRecord:
    return OutgoingRecord(topic, str(i % 1000).encode(), b'{"n": %d}' % i, [])


async def receive(consumer: AIOKafkaConsumer, count: int) -> None:
    received = 0
    while received < count:
        batches = await consumer.getmany(timeout_ms=1000, max_records=1000)
        received += sum(len(b) for b in batches.values())


async def flood_rate(
    producer: EventProducer, consumer: AIOKafkaConsumer, topic: str, count: int
) -> float:
    started = time.perf_counter()
    receiving = asyncio.create_task(receive(consumer, count))
    for start in range(0, count, 200):
        await producer.send_batch([record(topic, i) for i in range(start, min(start + 200, count))])
    await asyncio.wait_for(receiving, 60)
    return count / (time.perf_counter() - started)


async def ping(producer: EventProducer, consumer: AIOKafkaConsumer, topic: str, i: int) -> float:
    started = time.perf_counter()
    await producer.send_batch([record(topic, i)])
    await asyncio.wait_for(receive(consumer, 1), 10)
    return time.perf_counter() - started
