"""Analytics facts (a storefront view): published from memory, at most once, never in the way.

A fact is worth less than the request that produced it, so it gets no database write and no
retry. `Beacon.emit()` appends the payload to a bounded in-memory queue and returns; a
background task renders and sends the queue on the service's producer in batches: once per
tick (`<PREFIX>BEACON_FLUSH_SECONDS`) or as soon as `<PREFIX>BEACON_BATCH_SIZE` facts wait.
A fact is dropped, and counted in `beacon_facts_dropped_total{service, reason}`, when the queue
is full (`queue-full`, `<PREFIX>BEACON_QUEUE_SIZE`), when its batch's send fails or times out
(`send-failed`: the broker is down, or slower than `<PREFIX>BEACON_SEND_TIMEOUT_SECONDS`; the
producer may still deliver a timed-out record later, never twice), or when it is still queued
after the shutdown's bounded flush (`shutdown`). Events that must not be lost go through the
outbox (chassis.outbox) instead. `<PREFIX>BEACON_ENABLED=false` turns it off: emit() returns at
once, nothing is queued or counted, and no task is started.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from dataclasses import dataclass
from typing import Protocol

from prometheus_client import Counter

from chassis.logging import get_logger
from chassis.producer import OutgoingRecord
from chassis.settings import ServiceSettings
from chassis.telemetry import current_traceparent
from shared_events import EventPayload, registry, to_kafka
from shared_events.registry import EventRegistry

log = get_logger(__name__)

FACTS_SENT = Counter(
    "beacon_facts_sent_total", "Analytics facts the broker acknowledged", ["service"]
)
FACTS_DROPPED = Counter(
    "beacon_facts_dropped_total",
    "Analytics facts dropped (at-most-once delivery): queue full, send failed, shutdown",
    ["service", "reason"],
)


class Sender(Protocol):
    """What the beacon needs of the producer (chassis.producer.EventProducer has it)."""

    async def send_batch(self, records: list[OutgoingRecord]) -> None: ...


@dataclass(frozen=True, slots=True)
class _Fact:
    payload: EventPayload
    subject: str
    traceparent: str | None


class Beacon:
    """The bounded queue of one service's analytics facts and the task that sends it."""

    def __init__(
        self,
        producer: Sender,
        *,
        service: str,
        queue_size: int = 10_000,
        batch_size: int = 500,
        flush_seconds: float = 0.5,
        send_timeout_seconds: float = 5.0,
        enabled: bool = True,
        reg: EventRegistry = registry,
    ) -> None:
        self.enabled = enabled
        self.producer = producer
        self.service = service
        self.source = f"/services/{service}"
        self.queue_size = queue_size
        self.batch_size = batch_size
        self.flush_seconds = flush_seconds
        self.send_timeout_seconds = send_timeout_seconds
        self.registry = reg
        self._queue: deque[_Fact] = deque()
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._stopping = False
        self._failing = False  # logs an outage once, not once per batch
        # Children bound once: emit() runs on the request path.
        self._sent = FACTS_SENT.labels(service)
        self._full = FACTS_DROPPED.labels(service, "queue-full")
        self._failed = FACTS_DROPPED.labels(service, "send-failed")
        self._shutdown = FACTS_DROPPED.labels(service, "shutdown")

    @property
    def queued(self) -> int:
        return len(self._queue)

    def emit(self, payload: EventPayload, *, subject: str) -> None:
        """Queue one fact and return at once; a full queue (or a stopped beacon) drops it."""
        if not self.enabled:
            return
        if self._stopping:
            self._shutdown.inc()
            return
        if len(self._queue) >= self.queue_size:
            self._full.inc()
            return
        self._queue.append(_Fact(payload, subject, current_traceparent()))
        if len(self._queue) >= self.batch_size:
            self._wake.set()

    def start(self) -> None:
        if self.enabled and self._task is None:
            self._stopping = False
            self._task = asyncio.create_task(self._run(), name=f"beacon-{self.service}")

    async def stop(self, timeout: float = 2.0) -> None:
        """Flush what is queued, for at most `timeout` seconds; what is left is dropped."""
        self._stopping = True
        self._wake.set()
        task, self._task = self._task, None
        if task is not None:
            _, pending = await asyncio.wait({task}, timeout=timeout)
            if pending:
                task.cancel()  # the batch in flight is counted by _send_batch
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._queue:
            self._shutdown.inc(len(self._queue))
            self._queue.clear()

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.flush_seconds):
                    await self._wake.wait()
            self._wake.clear()
            await self._drain()
        await self._drain()  # stop() asked: send the rest once

    async def _drain(self) -> None:
        while self._queue:
            count = min(len(self._queue), self.batch_size)
            await self._send_batch([self._queue.popleft() for _ in range(count)])

    async def _send_batch(self, facts: list[_Fact]) -> None:
        try:
            records = [self._record(fact) for fact in facts]
            async with asyncio.timeout(self.send_timeout_seconds):
                await self.producer.send_batch(records)
        except asyncio.CancelledError:
            self._shutdown.inc(len(facts))
            raise
        except Exception as exc:  # at most once: a failed batch is counted, never retried
            self._failed.inc(len(facts))
            if not self._failing:
                log.warning(
                    "analytics facts dropped: send failed",
                    service=self.service,
                    count=len(facts),
                    error=str(exc) or type(exc).__name__,
                )
            self._failing = True
            return
        self._sent.inc(len(facts))
        if self._failing:
            log.info("analytics facts sent again", service=self.service)
            self._failing = False

    def _record(self, fact: _Fact) -> OutgoingRecord:
        spec = self.registry.spec_for(type(fact.payload))
        envelope = self.registry.envelope(
            fact.payload, subject=fact.subject, source=self.source, traceparent=fact.traceparent
        )
        record = to_kafka(envelope)
        return OutgoingRecord(spec.topic, record.key, record.value, record.headers)


def beacon_for(settings: ServiceSettings, producer: Sender) -> Beacon:
    """The service's beacon as its settings size it (not started)."""
    return Beacon(
        producer,
        service=settings.service_name,
        queue_size=settings.beacon_queue_size,
        batch_size=settings.beacon_batch_size,
        flush_seconds=settings.beacon_flush_seconds,
        send_timeout_seconds=settings.beacon_send_timeout_seconds,
        enabled=settings.beacon_enabled,
    )
