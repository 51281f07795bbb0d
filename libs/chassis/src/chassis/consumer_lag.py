"""Consumer lag: how many records a consumer group has not handled yet, per partition.

`LiveLag` sets the `events_consumer_lag` gauge of a service's own group from its consumer's
state when /metrics is scraped: the partition's high watermark (carried by every fetch
response) minus the consumer's position. No round trip to the broker, and no work per poll:
the gauge is read only by a scrape.

`committed_lag` reads the lag of every group from the broker (end offset minus committed
offset), for a view of the whole suite such as the operators' dashboard.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient

from chassis.metrics import CONSUMER_LAG, on_scrape

# A position not known yet (a partition just assigned, its offset being fetched) is skipped
# rather than waited for.
_POSITION_WAIT_SECONDS = 0.05


class LiveLag:
    """The gauge of one group, fed by the consumer FastStream runs for it."""

    def __init__(self, group: str) -> None:
        self.group = group
        self._consumer: AIOKafkaConsumer | None = None
        self._labelled: set[tuple[str, int]] = set()

    def watch(self) -> None:
        on_scrape(f"consumer_lag:{self.group}", self.refresh)

    def unwatch(self) -> None:
        on_scrape(f"consumer_lag:{self.group}", None)
        for topic, partition in self._labelled:
            CONSUMER_LAG.remove(self.group, topic, str(partition))
        self._labelled.clear()
        self._consumer = None

    def follow(self, consumer: AIOKafkaConsumer) -> None:
        """After a poll: the consumer whose partitions the next scrape reports."""
        self._consumer = consumer

    async def refresh(self) -> None:
        consumer = self._consumer
        if consumer is None:
            return
        assigned = consumer.assignment()
        for tp in assigned:
            end = consumer.highwater(tp)
            if end is None:  # nothing fetched from it yet
                continue
            position = await _known_position(consumer, tp)
            if position is None:
                continue
            CONSUMER_LAG.labels(self.group, tp.topic, str(tp.partition)).set(max(end - position, 0))
            self._labelled.add((tp.topic, tp.partition))
        # Partitions taken away by a rebalance are another member's to report.
        current = {(tp.topic, tp.partition) for tp in assigned}
        for topic, partition in self._labelled - current:
            CONSUMER_LAG.remove(self.group, topic, str(partition))
        self._labelled &= current


async def _known_position(consumer: AIOKafkaConsumer, tp: TopicPartition) -> int | None:
    with contextlib.suppress(TimeoutError, AssertionError):
        # aiokafka answers from memory when the position is known; it waits only when not.
        return await asyncio.wait_for(consumer.position(tp), _POSITION_WAIT_SECONDS)
    return None


@dataclass(frozen=True, slots=True)
class PartitionLag:
    group: str
    topic: str
    partition: int
    end_offset: int
    committed: int

    @property
    def lag(self) -> int:
        return max(self.end_offset - self.committed, 0)


async def committed_lag(bootstrap_servers: str, *, timeout: float = 5.0) -> list[PartitionLag]:
    """Every consumer group's lag on every partition it has committed an offset on."""
    return await asyncio.wait_for(_committed_lag(bootstrap_servers), timeout)


async def _committed_lag(bootstrap_servers: str) -> list[PartitionLag]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers)
    try:
        await admin.start()
        reader = AIOKafkaConsumer(bootstrap_servers=bootstrap_servers, enable_auto_commit=False)
        try:
            await reader.start()
            return await _read(admin, reader)
        finally:
            await reader.stop()
    finally:
        await admin.close()


async def _read(admin: AIOKafkaAdminClient, reader: AIOKafkaConsumer) -> list[PartitionLag]:
    topics = [t for t in await admin.list_topics() if not t.startswith("__")]
    partitions = sorted(
        TopicPartition(described["topic"], p["partition"])
        for described in await admin.describe_topics(topics)
        for p in described["partitions"]
    )
    if not partitions:
        return []
    ends = await reader.end_offsets(partitions)
    lags = []
    for group in sorted(group for group, *_ in await admin.list_consumer_groups()):
        # Named partitions: the embedded broker cannot answer "all of the group's".
        committed = await admin.list_consumer_group_offsets(group, partitions=partitions)
        lags += [
            PartitionLag(group, tp.topic, tp.partition, ends[tp], offset.offset)
            for tp, offset in sorted(committed.items())
            if offset.offset >= 0 and tp in ends
        ]
    return lags
