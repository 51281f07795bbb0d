"""A downstream subscriber, as another team would run one: it reads every domain topic from
the moment it starts, counts the events, keeps the records of the current fault window (the
duplication fault re-produces some of them) and finds effects announced twice."""

from __future__ import annotations

import asyncio
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from bench.broker import FETCH_MAX_WAIT_MS, wait_for_partitions
from bench.tracker import header
from shared_events.topics import ALL_TOPICS

# Events that happen at most once per aggregate (the Kafka key, here the order id): the same
# type under two different `ce_id`s means the step's effect was applied twice (a redelivered
# record keeps its `ce_id` and is not counted).
ONCE_PER_SUBJECT = frozenset(
    {
        "order.order.placed",
        "order.payment.requested",
        "order.order.confirmed",
        "order.order.rejected",
        "order.order.cancelled",
        "inventory.stock.reserved",
        "inventory.stock.rejected",
        "inventory.stock.committed",
        "inventory.stock.released",
        "payment.payment.authorized",
        "payment.payment.failed",
        "payment.payment.captured",
        "payment.payment.voided",
        "payment.payment.refunded",
    }
)


@dataclass(frozen=True)
class Seen:
    """One record as read: enough to produce it again unchanged."""

    topic: str
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes], ...]


class EventSubscriber:
    """`counts[ce_type]` of every record read; `window` the records since `new_window()`."""

    def __init__(self, bootstrap: str, topics: Iterable[str] = ALL_TOPICS) -> None:
        self.bootstrap = bootstrap
        self.topics = list(topics)
        self.counts: Counter[str] = Counter()
        self.window: list[Seen] = []
        # (type, subject) -> the distinct ce_ids seen, for the once-per-subject types
        self._ids: defaultdict[tuple[str, str], set[str]] = defaultdict(set)
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        """Positioned at the end of every topic before it returns: what follows is counted."""
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap, group_id=None, fetch_max_wait_ms=FETCH_MAX_WAIT_MS
        )
        await consumer.start()
        partitions = [p for t in self.topics for p in await wait_for_partitions(consumer, t)]
        consumer.assign(partitions)
        await consumer.seek_to_end(*partitions)
        for partition in partitions:
            await consumer.position(partition)
        self._task = asyncio.create_task(self._read(consumer))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        try:
            while True:
                batches = await consumer.getmany(timeout_ms=500, max_records=2000)
                for record in (r for batch in batches.values() for r in batch):
                    self._count(record)
        finally:
            await consumer.stop()

    def _count(self, record: ConsumerRecord[bytes, bytes]) -> None:
        kind = header(record, "ce_type") or "(no ce_type)"
        self.counts[kind] += 1
        self.window.append(Seen(record.topic, record.key, record.value, tuple(record.headers)))
        event_id = header(record, "ce_id")
        if kind in ONCE_PER_SUBJECT and record.key is not None and event_id:
            # Once per version: an event published in several versions during a deprecation
            # window (`ce_dataversions`) is one record per version, each under its own id.
            version = header(record, "ce_dataversion") or "1"
            self._ids[(f"{kind} v{version}", record.key.decode())].add(event_id)

    def new_window(self) -> None:
        self.window = []

    def effects_twice(self) -> dict[str, int]:
        """Per event type, how many aggregates announced it under more than one event id."""
        twice = Counter(kind for (kind, _), ids in self._ids.items() if len(ids) > 1)
        return dict(twice)
