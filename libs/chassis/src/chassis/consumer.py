"""Consuming events: envelope -> inbox -> handler, in one transaction, acknowledged after commit.

Delivery rules (the README's "Delivery guarantees"):
- the offset is committed only after `handle()` returns, i.e. after the handler's transaction
  committed (or the message was dead-lettered);
- a handler that raises is retried with exponential backoff, `max_attempts` times in all;
- while the database cannot be reached (or a handler reports another dependency's outage,
  `chassis.db.DependencyUnavailable`) the handler waits and retries without counting
  attempts: an outage is not the event's fault, and dead-lettering would lose the event;
- then the message, its headers and the error go to `<topic>.dlq` and the partition moves on;
- a message that is not a valid envelope (a poison message) goes to the DLQ at once, and so
  does an event older than the inbox remembers (`dedupe_window`), which it might apply twice;
- if even the DLQ cannot be written, the error propagates and the message is redelivered.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import Database, as_utc, is_unavailable
from chassis.inbox import claim, claim_many
from chassis.logging import REDACTED, get_logger
from chassis.metrics import EVENTS_DEAD_LETTERED, HANDLER_LATENCY
from chassis.outbox import Outbox
from chassis.producer import EventProducer
from chassis.retry import exponential_delay
from chassis.settings import DEDUPE_MARGIN_DAYS
from chassis.telemetry import consumer_span, trace_context, tracing_enabled
from shared_events import Envelope, EnvelopeError, EventPayload, from_kafka, registry, topics
from shared_events.envelope import HEADER_PREFIX, encode_data, parse_versions
from shared_events.registry import EventRegistry, version_to_read

if TYPE_CHECKING:
    from chassis.runtime import AnyRuntime

log = get_logger(__name__)


RuntimeT = TypeVar("RuntimeT")


@dataclass
class Delivery(Generic[RuntimeT]):
    """What a handler gets besides the payload: its transaction, the event's envelope and the
    running service (typed by the service: `Delivery[OrderRuntime]`).

    `stage()` writes an event to the outbox in the same transaction, with the causation id set
    to this event and the correlation id carried over, so a saga's events link up; `older`:
    the same event in older versions, published beside it (`Outbox.stage`).
    """

    session: AsyncSession
    envelope: Envelope
    outbox: Outbox | None = None
    # Settings and state of the running service; a test that needs neither passes none.
    runtime: RuntimeT = None  # type: ignore[assignment]

    def stage(
        self, payload: EventPayload, *, subject: str, older: Sequence[EventPayload] = ()
    ) -> Envelope:
        if self.outbox is None:
            raise RuntimeError("this consumer was built without an outbox")
        return self.outbox.stage(
            self.session,
            payload,
            subject=subject,
            correlation_id=self.envelope.correlationid or self.envelope.subject,
            causation_id=str(self.envelope.id),
            older=older,
        )


Handler = Callable[[Delivery[Any], Any], Awaitable[None]]


class IncomingRecord(Protocol):
    """The parts of a consumed Kafka record we use (aiokafka's ConsumerRecord has them)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]


# Route a record before its envelope is parsed: its type, and which version it is of an event
# published in several versions at once.
TYPE_HEADER = f"{HEADER_PREFIX}type"
VERSION_HEADER = f"{HEADER_PREFIX}dataversion"
VERSIONS_HEADER = f"{HEADER_PREFIX}dataversions"


def _twin_in_headers(version: bytes | None, versions: bytes, wanted: int) -> bool:
    """Whether the record is a twin the handler skips (`version_to_read`), read from the raw
    headers; a malformed header is left to `from_kafka`, which dead-letters it saying why."""
    if version is None:
        return False
    try:
        return int(version) != version_to_read(parse_versions(versions.decode()), wanted)
    except ValueError:
        return False


@dataclass(slots=True)
class _Work:
    """A record that passed routing and parsing, waiting for its transaction."""

    runner: ConsumerRunner
    record: IncomingRecord
    envelope: Envelope
    fn: Handler
    payload: EventPayload
    started: float


DEDUPE_MARGIN = timedelta(days=DEDUPE_MARGIN_DAYS)


class OutsideDedupeWindow(EnvelopeError):
    """An event older than the inbox's memory (`ConsumerRunner.dedupe_window`): dead-lettered at
    once, like a poison message, since applying it could apply it twice."""


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
        if len(self._by_type) != len(self.handlers):
            # A handler is written for one version; the others reach it upcast, or are skipped
            # as twins of the one it reads.
            raise ValueError(f"{self.name}: one handler per event type, not one per version")

    @property
    def dead_letter_topic(self) -> str:
        return str(topics.dead_letter_topic(self.topic))


@dataclass
class ConsumerRunner:
    """Applies the delivery rules to one consumed record."""

    consumer: EventConsumer
    database: Database
    producer: EventProducer
    service: str
    outbox: Outbox | None = None
    runtime: AnyRuntime | None = None
    max_attempts: int = 5
    backoff_seconds: float = 0.2
    outage_backoff_cap_seconds: float = 2.0  # while the database is unreachable
    # Fault injection for crash tests: called after a commit, before the offset is committed.
    after_commit: Callable[[Envelope], None] | None = None
    # How old an event may be and still be told apart from one handled before: the inbox's
    # retention less `DEDUPE_MARGIN` (chassis/retention.py). None: no limit (an inbox kept
    # for ever).
    dedupe_window: timedelta | None = None

    async def handle_batch(self, records: Sequence[IncomingRecord], concurrency: int = 1) -> None:
        """One poll's records of this consumer's topic, in one transaction (`apply_batch`)."""
        work = [w for w in [await self._prepare(r) for r in records] if isinstance(w, _Work)]
        await apply_batch(work, concurrency)

    async def handle(self, record: IncomingRecord) -> str:
        """One record in its own transaction. Returns the outcome: handled, duplicate, ignored
        or dead-lettered."""
        prepared = await self._prepare(record)
        if isinstance(prepared, str):
            return prepared
        return await self._apply_one(prepared)

    async def _prepare(self, record: IncomingRecord) -> _Work | str:
        """Route on the headers, then parse; an unparseable record is dead-lettered.

        A type this consumer does not handle is skipped. A record published beside the same
        event in other versions (`ce_dataversions`) is skipped unless it is the one its handler
        reads (`version_to_read`: the handler's version when listed). The record is then parsed
        as the handler's version: an older one upcast, a newer one dead-lettered."""
        started = time.perf_counter()
        entry: tuple[type[EventPayload], Handler] | None = None
        version: bytes | None = None
        versions: bytes | None = None
        for name, value in record.headers:
            if name == TYPE_HEADER:
                entry = self.consumer._by_type.get(value.decode(errors="replace"))
                if entry is None:
                    return "ignored"  # a type this consumer does not act on
            elif name == VERSION_HEADER:
                version = value
            elif name == VERSIONS_HEADER:
                versions = value
        if (
            versions is not None
            and entry is not None
            and _twin_in_headers(version, versions, entry[0].event_version)
        ):
            return "ignored"  # the handler reads a twin of this record instead
        envelope: Envelope | None = None
        try:
            envelope = from_kafka(record.value, list(record.headers))
            entry = entry or self.consumer._by_type.get(envelope.type)
            if entry is None:
                return "ignored"
            model, fn = entry
            payload = self.consumer.registry.parse(envelope, model.event_version)
            self._check_age(envelope)
        except EnvelopeError as exc:
            await self.dead_letter(record, exc, attempts=1, envelope=envelope)
            return "dead-lettered"
        return _Work(self, record, envelope, fn, payload, started)

    def _check_age(self, envelope: Envelope) -> None:
        """An event older than the inbox remembers may have been handled already: it goes to
        the dead letters for an operator to judge, never applied a second time."""
        if self.dedupe_window is None:
            return
        at = as_utc(envelope.time)  # an offset-less time is read as UTC
        if datetime.now(UTC) - at > self.dedupe_window:  # ages: no date arithmetic to overflow
            raise OutsideDedupeWindow(
                f"the event is from {at.isoformat()}, older than the {self.dedupe_window.days} "
                "days the inbox vouches for: it may have been handled already"
            )

    def _context(self, envelope: Envelope) -> AbstractContextManager[object]:
        """A consumer span when spans are exported; otherwise only the producer's trace
        context, so staged events and log lines keep the trace id without a span's cost."""
        if not tracing_enabled():
            return trace_context(envelope.traceparent)
        return consumer_span(
            f"{self.consumer.topic} process",
            envelope.traceparent,
            **{
                "messaging.consumer": self.consumer.name,
                "cloudevents.event_type": envelope.type,
                "cloudevents.event_subject": envelope.subject,
                "correlation_id": envelope.correlationid or envelope.subject,
            },
        )

    def _observe(self, work: _Work, outcome: str) -> None:
        HANDLER_LATENCY.labels(
            self.service, self.consumer.name, work.envelope.type, outcome
        ).observe(time.perf_counter() - work.started)

    async def _apply_one(self, work: _Work, *, failed_before: int = 0) -> str:
        with self._context(work.envelope):
            outcome = await self._apply(
                work.record, work.envelope, work.fn, work.payload, failed_before
            )
        self._observe(work, outcome)
        return outcome

    async def _apply(
        self,
        record: IncomingRecord,
        envelope: Envelope,
        fn: Handler,
        payload: EventPayload,
        failed_before: int = 0,
    ) -> str:
        attempt = min(failed_before, self.max_attempts - 1)
        outages = 0  # the database unreachable: waited for, not counted as attempts
        if attempt:
            await asyncio.sleep(self.retry_delay(attempt))
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
                    outages += 1
                    waited = self.outage_delay(outages)
                    log.warning(
                        "database or dependency unavailable, event handler waiting",
                        consumer=self.consumer.name,
                        event_id=str(envelope.id),
                        error=repr(exc),
                        retry_in=waited,
                    )
                    await asyncio.sleep(waited)
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
                await asyncio.sleep(self.retry_delay(attempt))

    def retry_delay(self, attempt: int) -> float:
        """The wait after failed attempt `attempt` of a handler: the chassis' schedule."""
        return exponential_delay(attempt, backoff_seconds=self.backoff_seconds)

    def outage_delay(self, outage: int) -> float:
        """The wait after the `outage`-th failure to reach the database, capped."""
        return exponential_delay(
            outage,
            backoff_seconds=self.backoff_seconds,
            cap_seconds=self.outage_backoff_cap_seconds,
        )

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


class ServiceConsumer:
    """Every topic a service reads, behind one Kafka consumer (one group, one fetch loop).

    Each `EventConsumer` keeps its own name, which is its inbox name and its dead letters'
    `dlq_consumer`: the group is how records reach the service, the inbox is what makes their
    effects happen once. A poll's records go lane by lane (one partition each) to the runners
    of their topic.
    """

    def __init__(self, runners: Sequence[ConsumerRunner]) -> None:
        self.by_topic: dict[str, list[ConsumerRunner]] = {}
        for runner in runners:
            self.by_topic.setdefault(runner.consumer.topic, []).append(runner)

    @property
    def topics(self) -> list[str]:
        return list(self.by_topic)

    async def handle_batch(self, records: Sequence[IncomingRecord], concurrency: int = 1) -> None:
        """One poll: every record routed and parsed, then all of them in one transaction
        (`apply_batch`). One transaction per poll, not per partition: concurrent transactions
        of one service would lock shared rows (a SKU's stock) in different orders and deadlock.
        """
        work: list[_Work] = []
        for record in records:
            for runner in self.by_topic.get(record.topic, ()):
                prepared = await runner._prepare(record)
                if isinstance(prepared, _Work):
                    work.append(prepared)
        await apply_batch(work, concurrency)


async def apply_batch(batch: list[_Work], concurrency: int = 1) -> None:
    """Apply parsed events in one transaction, committed once; one at a time if it fails.

    The inbox claims each consumer's ids with one statement; the handlers run in the order of
    `batch` (each partition's records in offset order). If the transaction fails it is rolled
    back and the events are applied one at a time, each in its own transaction with the
    retries and dead-lettering of `ConsumerRunner.handle`, partition by partition (up to
    `concurrency` partitions at once): a poison event costs its batch a second pass, never its
    neighbours' effects, and each partition's order holds either way. While the database is
    unreachable the batch waits and is tried again, whole.
    """
    if len(batch) == 1:
        await batch[0].runner._apply_one(batch[0])
        return
    if not batch:
        return
    first = batch[0].runner
    outages = 0
    while True:
        failed_at: list[int] = []
        try:
            outcomes = await _in_one_transaction(batch, failed_at)
            break
        except Exception as exc:
            if is_unavailable(exc):
                outages += 1
                waited = first.outage_delay(outages)
                log.warning(
                    "database or dependency unavailable, event batch waiting",
                    consumer=first.consumer.name,
                    events=len(batch),
                    error=repr(exc),
                    retry_in=waited,
                )
                await asyncio.sleep(waited)
                continue
            await _one_at_a_time(batch, failed_at[0] if failed_at else None, exc, concurrency)
            return
    for work, outcome in zip(batch, outcomes, strict=True):
        if outcome == "handled" and work.runner.after_commit is not None:
            work.runner.after_commit(work.envelope)
        work.runner._observe(work, outcome)


async def _in_one_transaction(batch: list[_Work], failed_at: list[int]) -> list[str]:
    """Apply the batch in one transaction; on a handler's error, append its index to
    `failed_at` and raise (the transaction rolls back)."""
    by_consumer: dict[str, list[_Work]] = {}
    for work in batch:
        by_consumer.setdefault(work.runner.consumer.name, []).append(work)
    outcomes: list[str] = []
    async with batch[0].runner.database.transaction() as session:
        fresh: set[tuple[str, uuid.UUID]] = set()
        for name, works in by_consumer.items():
            claimed = await claim_many(
                session, name, [(w.envelope.id, w.envelope.type) for w in works]
            )
            fresh.update((name, event_id) for event_id in claimed)
        for index, work in enumerate(batch):
            runner = work.runner
            claim_key = (runner.consumer.name, work.envelope.id)
            if claim_key not in fresh:
                outcomes.append("duplicate")
                continue
            fresh.discard(claim_key)  # a second copy in the same poll is a duplicate
            try:
                with runner._context(work.envelope):
                    await work.fn(
                        Delivery(session, work.envelope, runner.outbox, runner.runtime),
                        work.payload,
                    )
                # Each handler starts from the database, as in a transaction of its own: no
                # ORM object loaded for one event is read back stale by the next.
                await session.flush()
            except Exception:
                failed_at.append(index)
                raise
            session.expunge_all()
            outcomes.append("handled")
    return outcomes


async def _one_at_a_time(
    batch: list[_Work], culprit: int | None, error: Exception, concurrency: int
) -> None:
    """The batch failed: each event in its own transaction, each partition in order. The
    batch's try counts as the failing event's first attempt, so a poison event is still tried
    `max_attempts` times in all before it is dead-lettered."""
    log.warning(
        "event batch failed, applying its events one at a time",
        consumer=batch[0].runner.consumer.name,
        events=len(batch),
        event_id=str(batch[culprit].envelope.id) if culprit is not None else None,
        error=repr(error),
    )
    lanes: dict[tuple[str, int], list[tuple[int, _Work]]] = {}
    for index, work in enumerate(batch):
        lanes.setdefault((work.record.topic, work.record.partition), []).append((index, work))
    slots = asyncio.Semaphore(concurrency)

    async def lane(in_order: list[tuple[int, _Work]]) -> None:
        async with slots:
            for index, work in in_order:
                await work.runner._apply_one(work, failed_before=int(index == culprit))

    outcomes = await asyncio.gather(*map(lane, lanes.values()), return_exceptions=True)
    for outcome in outcomes:
        if isinstance(outcome, BaseException):
            raise outcome
