"""A service's event handlers driven without a broker, on a real database.

`Harness` runs each consumed event through the chassis `ConsumerRunner` (envelope -> inbox ->
handler -> outbox, one transaction), exactly as a running service does after a poll, and
reads back what the handlers staged in the outbox. `offline_runtime` builds the runtime the
handlers read (`delivery.runtime`) with nothing started: migrations applied, a Redis client
that is never connected unless a handler uses it, and a `RecordingProducer` in place of the
broker (a harness tries each event once: a failing handler's event is dead-lettered there at
once, and `Harness.dead_letters` lists it).

    async with offline_runtime(settings, state, migrations=MIGRATIONS_DIR) as runtime:
        harness = Harness.of(runtime, CONSUMERS)
        await harness.deliver(OrderPlacedV1(...))
        assert harness.outcomes == ["handled"]
        assert [t for t, _ in await harness.published(order_id)] == ["inventory.stock.reserved"]
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, TypeVar

from sqlmodel import col, select

from chassis.cache import create_redis
from chassis.consumer import ConsumerRunner, EventConsumer
from chassis.db import Database
from chassis.migrations import upgrade_async
from chassis.outbox import OutboxRecord
from chassis.producer import OutgoingRecord
from chassis.runtime import Runtime, assemble_runtime
from chassis.settings import ServiceSettings
from chassis.testing.events import Record, RecordingProducer, envelope_of, topic_of
from shared_events import Envelope, EventPayload

RuntimeT = TypeVar("RuntimeT", bound=Runtime[Any, Any])
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
StateT = TypeVar("StateT")


@asynccontextmanager
async def offline_runtime(
    settings: SettingsT, state: StateT, *, migrations: Path | None = None
) -> AsyncIterator[Runtime[SettingsT, StateT]]:
    """The runtime of `settings` (its `database_url`, migrated from `migrations` first), none
    of it started; closed on exit."""
    if migrations is not None:
        await upgrade_async(migrations, settings.database_url)
    database = Database(settings.database_url)
    redis = create_redis(settings.redis_url)
    producer = RecordingProducer()
    try:
        yield assemble_runtime(settings, database, redis, producer, state)
    finally:
        await producer.stop()
        await redis.aclose()
        await database.dispose()


@dataclass
class Harness(Generic[RuntimeT]):
    """A service's consumers (one runner per topic) over `runtime`; `outcomes` lists what
    each delivery came to: handled, duplicate, ignored or dead-lettered."""

    runtime: RuntimeT
    runners: dict[str, ConsumerRunner]
    outcomes: list[str] = field(default_factory=list)

    @classmethod
    def of(
        cls, runtime: RuntimeT, consumers: Sequence[EventConsumer], *, max_attempts: int = 1
    ) -> Harness[RuntimeT]:
        runners = {
            consumer.topic: ConsumerRunner(
                consumer,
                runtime.database,
                runtime.producer,
                service=runtime.settings.service_name,
                outbox=runtime.outbox,
                runtime=runtime,
                max_attempts=max_attempts,
            )
            for consumer in consumers
        }
        return cls(runtime, runners)

    @property
    def database(self) -> Database:
        return self.runtime.database

    async def deliver(
        self,
        payload: EventPayload,
        *,
        subject: str | None = None,
        source: str | None = None,
        event_id: uuid.UUID | None = None,
        correlation_id: str | None = None,
    ) -> Envelope:
        """Hand the event to the consumer of its topic, as one poll's record; the outcome is
        appended to `outcomes`. Deliver the same `event_id` twice to test the inbox."""
        envelope = envelope_of(
            payload,
            subject=subject,
            source=source,
            event_id=event_id,
            correlation_id=correlation_id,
        )
        topic = topic_of(payload)
        runner = self.runners.get(topic)
        if runner is None:
            raise LookupError(f"no consumer of {topic} (it has {sorted(self.runners)})")
        self.outcomes.append(await runner.handle(Record.of(envelope, topic=topic)))
        return envelope

    @property
    def dead_letters(self) -> list[OutgoingRecord]:
        """What failed handlers dead-lettered (with an `offline_runtime`'s producer)."""
        producer = self.runtime.producer
        return producer.dead_letters if isinstance(producer, RecordingProducer) else []

    async def published(self, subject: str | None = None) -> list[tuple[str, dict[str, Any]]]:
        """The events staged in the outbox (of one subject, or all), oldest first, as
        (type, data)."""
        query = select(OutboxRecord).order_by(col(OutboxRecord.id))
        if subject is not None:
            query = query.where(col(OutboxRecord.subject) == subject)
        async with self.database.sessions() as session:
            rows = (await session.exec(query)).all()
        return [(row.event_type, json.loads(row.data)) for row in rows]
