"""When each order reached its outcome, read off `order.events` (the Kafka key is the order id,
`ce_type` the event type), so that no order is polled over HTTP."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import Iterable
from dataclasses import dataclass

from aiokafka import AIOKafkaConsumer, ConsumerRecord

from bench.broker import tail_consumer
from shared_events.topics import ORDER_EVENTS

# The saga's steps before the outcome, seen on the same topic: order placed (the POST's
# transaction, relayed), payment requested (inventory reserved the stock).
MILESTONES = ("order.order.placed", "order.payment.requested")
OUTCOMES = {
    "order.order.confirmed": "CONFIRMED",
    "order.order.rejected": "REJECTED",
    "order.order.cancelled": "CANCELLED",
}


@dataclass(frozen=True)
class Outcome:
    status: str
    reason: str | None
    at: float  # time.perf_counter() when the event arrived here


def header(message: ConsumerRecord[bytes, bytes], name: str) -> str | None:
    for key, value in message.headers:
        if key == name:
            return value.decode()
    return None


def outcome_of(message: ConsumerRecord[bytes, bytes], at: float) -> Outcome | None:
    status = OUTCOMES.get(header(message, "ce_type") or "")
    if status is None:
        return None
    reason = None
    if status != "CONFIRMED" and message.value:
        reason = json.loads(message.value).get("reason")
    return Outcome(status, reason, at)


class OrderTracker:
    """Reads `order.events` from the moment it starts; `outcomes[order_id]` is the first
    outcome of each order."""

    def __init__(self, bootstrap: str) -> None:
        self.bootstrap = bootstrap
        self.outcomes: dict[str, Outcome] = {}
        self.milestones: dict[str, dict[str, float]] = {m: {} for m in MILESTONES}
        self._consumer: AIOKafkaConsumer | None = None
        self._task: asyncio.Task[None] | None = None
        self._arrived = asyncio.Event()  # set whenever outcomes arrive

    async def start(self) -> None:
        self._consumer = await tail_consumer(self.bootstrap, ORDER_EVENTS)
        self._task = asyncio.create_task(self._read(self._consumer))

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if self._consumer:
            await self._consumer.stop()

    async def _read(self, consumer: AIOKafkaConsumer) -> None:
        while True:
            batches = await consumer.getmany(timeout_ms=500, max_records=2000)
            at = time.perf_counter()
            for message in (m for batch in batches.values() for m in batch):
                if message.key is None:
                    continue
                order_id = message.key.decode()
                seen = self.milestones.get(header(message, "ce_type") or "")
                if seen is not None:
                    seen.setdefault(order_id, at)
                elif order_id not in self.outcomes and (outcome := outcome_of(message, at)):
                    self.outcomes[order_id] = outcome
                    self._arrived.set()

    def pending(self, order_ids: Iterable[str]) -> list[str]:
        return [o for o in order_ids if o not in self.outcomes]

    async def settle(self, order_ids: Iterable[str], timeout: float) -> list[str]:
        """Wait until every order has an outcome, or `timeout`; the ones still without."""
        waiting = list(order_ids)
        deadline = time.perf_counter() + timeout
        while (waiting := self.pending(waiting)) and (left := deadline - time.perf_counter()) > 0:
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), left)
        return waiting
