"""The consumer loop: at least once from the broker, once in effect.

- one consumer group of the team's own (never a suite service's group id: it would take
  records away from that service);
- each partition's records are applied one after another in offset order (one key's events
  are on one partition, in the order they were published), each in its own SQLite
  transaction with its event id (`store.claim`), so a redelivered record is recognised;
- offsets are committed after the records were applied, never before: a crash re-reads them
  (at least once), the dedupe table makes that harmless.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import CommitFailedError

from downstream_starter.decode import Readable, Routes, Skipped, read, routes
from downstream_starter.handlers import HANDLERS
from downstream_starter.store import Store, claim, unreadable
from shared_events.topics import INVENTORY_EVENTS, ORDER_EVENTS

TOPICS = (ORDER_EVENTS, INVENTORY_EVENTS)


@dataclass(frozen=True, slots=True)
class Settings:
    bootstrap_servers: str
    group_id: str
    # Where a group with no committed offset starts: "earliest" replays what the topics retain.
    offset_reset: str = "earliest"
    session_timeout_ms: int = 10_000


class Record(Protocol):
    """What is read of an aiokafka ConsumerRecord."""

    offset: int
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


def apply(store: Store, record: Record, by_type: Routes) -> str | None:
    """Apply one record; the line to print, or None for a record skipped silently."""
    found = read(record.value, record.headers, by_type)
    if isinstance(found, Skipped):
        return None
    if not isinstance(found, Readable):
        # No dead-letter topic of ours: kept in a table, printed, and the partition moves on.
        with store.transaction() as db:
            unreadable(db, found.event_id, found.type, found.error)
        return f"UNREADABLE {found.type} {found.event_id}: {found.error}"
    envelope = found.envelope
    with store.transaction() as db:
        if not claim(db, str(envelope.id), envelope.type, envelope.dataversion, envelope.subject):
            return f"duplicate {envelope.type} {envelope.id}: already applied, skipped"
        return found.handler(db, found.payload)


async def consume(
    settings: Settings, store: Store, stop: asyncio.Event, say: Callable[[str], None] = print
) -> None:
    by_type = routes(HANDLERS)
    consumer = AIOKafkaConsumer(
        *TOPICS,
        bootstrap_servers=settings.bootstrap_servers,
        group_id=settings.group_id,
        client_id=f"{settings.group_id}-{uuid.uuid4().hex[:6]}",
        enable_auto_commit=False,
        auto_offset_reset=settings.offset_reset,
        session_timeout_ms=settings.session_timeout_ms,
        heartbeat_interval_ms=max(settings.session_timeout_ms // 3, 100),
    )
    await consumer.start()
    say(f"reading {', '.join(TOPICS)} as group {settings.group_id}")
    try:
        while not stop.is_set():
            batches = await consumer.getmany(timeout_ms=500, max_records=500)
            for partition, records in batches.items():
                for record in records:
                    line = apply(store, record, by_type)
                    if line is not None:
                        say(line)
                await commit(consumer, partition, records[-1].offset + 1, say)
    finally:
        await consumer.stop()


async def commit(
    consumer: AIOKafkaConsumer, partition: TopicPartition, offset: int, say: Callable[[str], None]
) -> None:
    try:
        await consumer.commit({partition: offset})
    except CommitFailedError as exc:
        # The partition moved to another member meanwhile (a rebalance): it re-reads these
        # records, and the event ids recognise them.
        say(f"offset {offset} of {partition} not committed ({exc}); re-read after the rebalance")
