"""Consuming events: envelope -> inbox -> handler, in one transaction, acknowledged after commit.

Delivery rules (DESIGN.md section 5):
- the offset is committed only after `handle()` returns, i.e. after the handler's transaction
  committed (or the message was dead-lettered);
- a handler that raises is retried with exponential backoff, `max_attempts` times in all;
- while the database cannot be reached the handler waits and retries without counting
  attempts: an outage is not the event's fault, and dead-lettering would lose the event;
- then the message, its headers and the error go to `<topic>.dlq` and the partition moves on;
- a message that is not a valid envelope (a poison message) goes to the DLQ at once;
- if even the DLQ cannot be written, the error propagates and the message is redelivered.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import Database, is_unavailable
from chassis.inbox import claim
from chassis.logging import REDACTED, get_logger
from chassis.metrics import EVENTS_DEAD_LETTERED, HANDLER_LATENCY
from chassis.outbox import Outbox
from chassis.producer import EventProducer
from chassis.settings import ServiceSettings
from chassis.telemetry import consumer_span, trace_context, tracing_enabled
from shared_events import Envelope, EnvelopeError, EventPayload, from_kafka, registry
from shared_events.envelope import encode_data
from shared_events.registry import EventRegistry
from shared_events.topics import dead_letter_topic

if TYPE_CHECKING:
    from chassis.runtime import Runtime

log = get_logger(__name__)


@dataclass
class Delivery:
    """What a handler gets besides the payload: its transaction and the event's envelope.

    `stage()` writes an event to the outbox in the same transaction, with the causation id set
    to this event and the correlation id carried over, so a saga's events link up.
    """

    session: AsyncSession
    envelope: Envelope
    outbox: Outbox | None = None
    runtime: Runtime | None = None  # settings, Redis, ... of the running service

    @property
    def settings(self) -> ServiceSettings:
        if self.runtime is None:
            raise RuntimeError("this consumer was built without a runtime")
        return self.runtime.settings

    def stage(self, payload: EventPayload, *, subject: str) -> Envelope:
        if self.outbox is None:
            raise RuntimeError("this consumer was built without an outbox")
        return self.outbox.stage(
            self.session,
            payload,
            subject=subject,
            correlation_id=self.envelope.correlationid or self.envelope.subject,
            causation_id=str(self.envelope.id),
        )


Handler = Callable[[Delivery, Any], Awaitable[None]]


class IncomingRecord(Protocol):
    """The parts of a consumed Kafka record we use (aiokafka's ConsumerRecord has them)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


@dataclass
class EventConsumer:
    """One consumer group on one topic, with a handler per event payload model."""

    name: str
    topic: str
    handlers: Mapping[type[EventPayload], Handler]
    registry: EventRegistry = registry
    _by_type: dict[str, tuple[type[EventPayload], Handler]] = field(init=False)

    def __post_init__(self) -> None:
        self._by_type = {model.event_type: (model, fn) for model, fn in self.handlers.items()}

    @property
    def dead_letter_topic(self) -> str:
        return dead_letter_topic(self.topic)


@dataclass
class ConsumerRunner:
    """Applies the delivery rules to one consumed record."""

    consumer: EventConsumer
    database: Database
    producer: EventProducer
    service: str
    outbox: Outbox | None = None
    runtime: Runtime | None = None
    max_attempts: int = 5
    backoff_seconds: float = 0.2
    outage_backoff_cap_seconds: float = 2.0  # while the database is unreachable
    # Fault injection for crash tests: called after a commit, before the offset is committed.
    after_commit: Callable[[Envelope], None] | None = None

    async def handle_batch(self, records: Sequence[IncomingRecord], concurrency: int = 1) -> None:
        """One poll's records: each partition's in offset order, up to `concurrency` partitions
        at once (events of one aggregate share a key, so a partition, so they stay in order).
        If a record cannot even be dead-lettered, the first such error is raised once every
        partition has stopped, and the caller rewinds the batch: what was handled already is
        then recognised by the inbox."""
        lanes: dict[tuple[str, int], list[IncomingRecord]] = {}
        for record in records:
            lanes.setdefault((record.topic, record.partition), []).append(record)
        slots = asyncio.Semaphore(concurrency)

        async def lane(in_order: list[IncomingRecord]) -> None:
            async with slots:
                for record in in_order:
                    await self.handle(record)

        outcomes = await asyncio.gather(*map(lane, lanes.values()), return_exceptions=True)
        for outcome in outcomes:
            if isinstance(outcome, BaseException):
                raise outcome

    async def handle(self, record: IncomingRecord) -> str:
        """Return the outcome: handled, duplicate, ignored or dead-lettered."""
        started = time.perf_counter()
        try:
            envelope = from_kafka(record.value, list(record.headers))
        except EnvelopeError as exc:
            await self.dead_letter(record, exc, attempts=1)
            return "dead-lettered"
        entry = self.consumer._by_type.get(envelope.type)
        if entry is None:
            return "ignored"  # a type this consumer does not act on
        model, fn = entry
        if tracing_enabled():
            with consumer_span(
                f"{self.consumer.topic} process",
                envelope.traceparent,
                **{
                    "messaging.consumer": self.consumer.name,
                    "cloudevents.event_type": envelope.type,
                    "cloudevents.event_subject": envelope.subject,
                    "correlation_id": envelope.correlationid or envelope.subject,
                },
            ):
                outcome = await self._apply(record, envelope, model, fn)
        else:
            # No exporter: a span per event would be built for nobody. The producer's trace
            # context is still carried, so staged events and log lines keep the trace id.
            with trace_context(envelope.traceparent):
                outcome = await self._apply(record, envelope, model, fn)
        HANDLER_LATENCY.labels(self.service, self.consumer.name, envelope.type, outcome).observe(
            time.perf_counter() - started
        )
        return outcome

    async def _apply(
        self,
        record: IncomingRecord,
        envelope: Envelope,
        model: type[EventPayload],
        fn: Handler,
    ) -> str:
        try:
            payload = self.consumer.registry.parse(envelope, model.event_version)
        except EnvelopeError as exc:
            await self.dead_letter(record, exc, attempts=1, envelope=envelope)
            return "dead-lettered"
        delay, attempt, waited = self.backoff_seconds, 0, self.backoff_seconds
        while True:
            try:
                async with self.database.transaction() as session:
                    if not await claim(session, self.consumer.name, envelope.id, envelope.type):
                        return "duplicate"
                    await fn(Delivery(session, envelope, self.outbox, self.runtime), payload)
                if self.after_commit is not None:
                    self.after_commit(envelope)
                return "handled"
            except Exception as exc:
                if is_unavailable(exc):
                    # The database is down, not the event at fault: dead-lettering it would
                    # lose a good event (a PostgreSQL restart outlasts the few retries). Wait
                    # for the database, without counting attempts; the partition waits too.
                    log.warning(
                        "database unavailable, event handler waiting",
                        consumer=self.consumer.name,
                        event_id=str(envelope.id),
                        error=repr(exc),
                        retry_in=waited,
                    )
                    await asyncio.sleep(waited)
                    waited = min(waited * 2, self.outage_backoff_cap_seconds)
                    continue
                attempt += 1
                if attempt >= self.max_attempts:
                    await self.dead_letter(record, exc, attempts=attempt, envelope=envelope)
                    return "dead-lettered"
                log.warning(
                    "event handler failed, retrying",
                    consumer=self.consumer.name,
                    event_id=str(envelope.id),
                    event_type=envelope.type,
                    attempt=attempt,
                    error=repr(exc),
                )
                await asyncio.sleep(delay)
                delay *= 2

    def _redacted(
        self, value: bytes | None, envelope: Envelope | None
    ) -> tuple[bytes | None, list[str]]:
        """The record's value with the payload's sensitive fields replaced (a payment token
        must not sit in a dead-letter topic), and the values that were removed."""
        if envelope is None:
            return value, []
        try:
            fields = self.consumer.registry.spec(envelope.type, envelope.dataversion).model
        except EnvelopeError:
            return value, []
        hidden = {k: v for k, v in envelope.data.items() if k in fields.sensitive_fields}
        if not hidden:
            return value, []
        data = {**envelope.data, **dict.fromkeys(hidden, REDACTED)}
        return encode_data(data), [str(v) for v in hidden.values() if v]

    async def dead_letter(
        self,
        record: IncomingRecord,
        error: Exception,
        *,
        attempts: int,
        envelope: Envelope | None = None,
    ) -> None:
        value, secrets = self._redacted(record.value, envelope)
        reason = f"{type(error).__name__}: {error}"
        for secret in secrets:  # a validation error quotes its input
            reason = reason.replace(secret, REDACTED)
        headers = [
            *record.headers,
            ("dlq_error", reason[:2000].encode()),
            ("dlq_consumer", self.consumer.name.encode()),
            ("dlq_topic", record.topic.encode()),
            ("dlq_partition", str(record.partition).encode()),
            ("dlq_offset", str(record.offset).encode()),
            ("dlq_attempts", str(attempts).encode()),
        ]
        await self.producer.send_raw(self.consumer.dead_letter_topic, value, record.key, headers)
        EVENTS_DEAD_LETTERED.labels(self.service, self.consumer.name).inc()
        log.error(
            "event dead-lettered",
            consumer=self.consumer.name,
            topic=record.topic,
            partition=record.partition,
            offset=record.offset,
            event_id=str(envelope.id) if envelope else None,
            event_type=envelope.type if envelope else None,
            error=repr(error),
        )
