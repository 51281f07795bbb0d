"""The FastStream Kafka broker, with subscribers that acknowledge only after commit."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from chassis.consumer import ConsumerRunner, ServiceConsumer
from chassis.consumer_lag import LiveLag
from chassis.db import is_sqlite
from chassis.dlq import DeadLetterDepth
from chassis.offset_commits import OffsetCommits
from chassis.poll_pace import PaceSettings, PollPace
from chassis.settings import ServiceSettings

# FastStream's logger goes through the process's handlers (chassis.logging), not a console
# handler of its own. `log_level` is the level FastStream logs "Received" / "Processed" at for
# every message (it was WARNING, which made them appear); at DEBUG, with this logger at INFO,
# they are dropped by one level check. FastStream's errors (a handler that raised, a
# subscriber that failed) are logged at ERROR whatever `log_level` is, so they still show.
FASTSTREAM_LOGGER = logging.getLogger("chassis.faststream")
FASTSTREAM_LOGGER.setLevel(logging.INFO)


def make_broker(settings: ServiceSettings) -> KafkaBroker:
    """A consume-only broker (events are produced by the outbox relay's producer)."""
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        consumer_only=True,
        # The one subscriber takes the message itself (`_the_message`), nothing to inject: with
        # types applied, fast_depends resolved its `message: KafkaMessage` parameter through a
        # synchronous context field, run in a worker thread: a thread hop on every poll (5.6 %
        # of notification's py-spy samples at 20 orders/s), and the bodies cast by pydantic.
        apply_types=False,
        logger=FASTSTREAM_LOGGER,
        log_level=logging.DEBUG,
    )


class ConsumerGroup:
    """The service's one consumer group, over every topic its consumers read.

    One Kafka consumer per service, not one per topic: one fetch loop, one group join, its
    offsets committed together (chassis.offset_commits). Its group id is the service's name;
    each `EventConsumer` keeps its own name for the inbox and the dead letters.
    """

    def __init__(self, settings: ServiceSettings, runners: Sequence[ConsumerRunner]) -> None:
        self.consumer = ServiceConsumer(runners)
        self.broker: KafkaBroker | None = None
        # The `events_dead_letters` gauge of the DLQs of the topics read here.
        self.dead_letters = DeadLetterDepth(
            settings.kafka_bootstrap_servers,
            self.consumer.topics,
            key=f"dead_letters:{settings.service_name}",
        )
        # The `events_consumer_lag` gauge of this group's partitions.
        self.lag = LiveLag(settings.service_name)
        self.pace: PollPace | None = None
        self.commits = OffsetCommits(settings.kafka_commit_interval_ms / 1000)
        if runners:
            self.broker = make_broker(settings)
            self.pace = subscribe(
                self.broker,
                self.consumer,
                group_id=settings.service_name,
                lag=self.lag,
                commits=self.commits,
                session_timeout_ms=settings.kafka_session_timeout_ms,
                pace=pace_settings(settings),
                batch_size=settings.consumer_batch_size,
                linger_ms=settings.kafka_batch_linger_ms,
                # SQLite has one writer: concurrent partitions would only wait for its lock.
                concurrency=1
                if is_sqlite(settings.database_url)
                else settings.consumer_concurrency,
            )

    async def start(self) -> None:
        if self.broker is not None:
            await self.broker.start()
            self.dead_letters.watch()
            self.lag.watch()
            if self.pace is not None:
                self.pace.start()

    async def stop(self) -> None:
        if self.broker is not None:
            try:
                if self.pace is not None:
                    await self.pace.stop()
                self.dead_letters.unwatch()
                self.lag.unwatch()
                await self.commits.stop()  # bounded: a hung broker does not hold the stop
            finally:
                await self.broker.stop()  # whatever failed before


def pace_settings(settings: ServiceSettings) -> PaceSettings:
    return PaceSettings(
        busy_fetch_ms=settings.kafka_fetch_max_wait_ms,
        busy_poll_ms=settings.kafka_poll_timeout_ms,
        idle_fetch_ms=max(settings.kafka_idle_fetch_max_wait_ms, settings.kafka_fetch_max_wait_ms),
        idle_poll_ms=max(settings.kafka_idle_poll_timeout_ms, settings.kafka_poll_timeout_ms),
        quiet_seconds=settings.kafka_quiet_seconds,
    )


async def _the_message(message: StreamMessage[Any]) -> StreamMessage[Any]:
    """The subscriber's "body" is the message itself: the envelope parser reads its raw
    records, the offsets are committed through its consumer (no JSON decoding by FastStream)."""
    return message


def subscribe(
    broker: KafkaBroker,
    consumer: ServiceConsumer,
    *,
    group_id: str,
    lag: LiveLag | None = None,
    commits: OffsetCommits | None = None,
    session_timeout_ms: int = 10_000,
    pace: PaceSettings | None = None,
    batch_size: int = 100,
    concurrency: int = 1,
    linger_ms: int = 0,
) -> PollPace:
    """Attach the service's consumer as one batch subscriber over its topics.

    Acknowledgement is ours (MANUAL: aiokafka's auto-commit off, FastStream commits nothing):
    once every record of the poll was handled (its transaction committed, or it was
    dead-lettered), their offsets go to `commits`, which commits them with those of the next
    polls (at once when it is None or its interval 0). If `consumer.handle_batch` raises (the
    DLQ itself was unreachable), each partition is sought back to its first record of the poll
    and delivered again.

    `linger_ms`: a poll that brought less than `batch_size` records is followed by the next
    no sooner than this after it began. The handler waits, so the poll after it takes what
    the partition gathered meanwhile: aiokafka fetches a partition again only once its
    buffered records were taken, so each fetch brings the records of a whole linger, in one
    transaction, for a latency of up to about two lingers. A full batch (a backlog) is
    followed at once.

    Returns the subscriber's `PollPace`, to be started once the broker runs.
    """
    pace = pace or PaceSettings()
    commits = commits or OffsetCommits(0)

    subscriber = broker.subscriber(
        *consumer.topics,
        group_id=group_id,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.MANUAL,
        listener=commits,  # commits what is pending before partitions are revoked
        decoder=_the_message,
        batch=True,
        max_records=batch_size,
        # FastStream's poll: getmany() waits this long for fetched records and, when none came,
        # sleeps as long again before the next; kept short and apart from the fetch wait, so
        # a fetch wait raised for a broker that answers early (Kafka) adds no such nap.
        batch_timeout_ms=pace.busy_poll_ms,
        session_timeout_ms=session_timeout_ms,
        heartbeat_interval_ms=max(session_timeout_ms // 3, 100),
        # The broker holds an empty fetch up to this (the embedded one, under load, all of it).
        fetch_max_wait_ms=pace.busy_fetch_ms,
    )
    paced = PollPace(subscriber, pace)

    linger = linger_ms / 1000

    async def on_records(message: KafkaMessage) -> None:
        began = time.monotonic()
        paced.records_arrived()
        records = message.raw_message
        batch = records if isinstance(records, tuple) else (records,)
        try:
            await consumer.handle_batch(batch, concurrency)
        except Exception:
            await message.nack()  # back to the poll's first record of each partition
            raise
        await commits.handled(message.consumer, batch)
        if lag is not None:
            lag.follow(message.consumer)
        if linger and len(batch) < batch_size:
            await asyncio.sleep(max(0.0, began + linger - time.monotonic()))

    subscriber(on_records)
    return paced
