"""How long a service's consumer waits for records: briefly while they flow, longer when quiet.

Two waits bound each hop's latency. The broker holds a fetch up to `fetch_max_wait_ms`: the
embedded broker holds it that long even when records arrive meanwhile. FastStream's batch poll
waits `batch_timeout_ms` for fetched records and, after an empty poll, naps as long again. So
both are short under load (50 and 20 ms). Idle, those short waits are all the suite does: every
service polls about 25 times and fetches 20 times a second for nothing, and the broker answers
every fetch (0.25 of a core for the idle suite, 0.12 of it the broker's).

`PollPace` raises both to their idle values once the consumer has seen no record for
`quiet_seconds`, and lowers them with the first record that comes. The price: the first record
after a quiet spell waits up to the idle fetch wait plus the idle poll wait more at each hop
(an order placed in an idle shop is confirmed up to a second later than the next one).
Setting the idle values equal to the busy ones turns pacing off; a broker that answers a fetch
as soon as records arrive (Kafka) needs none, since a long fetch wait costs it no latency.

The fetch wait lives in aiokafka's fetcher, which reads it for every fetch request it builds;
aiokafka has no public setter, so `_set_fetch_wait` writes the attribute where it is (and
nowhere else), and `tests/integration/test_poll_pace.py` fails if a new aiokafka moves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer


class BatchPolling(Protocol):
    """What `PollPace` needs of FastStream's batch subscriber."""

    batch_timeout_ms: int
    consumer: AIOKafkaConsumer | None


@dataclass(frozen=True, slots=True)
class PaceSettings:
    busy_fetch_ms: int = 50
    busy_poll_ms: int = 20
    idle_fetch_ms: int = 500
    idle_poll_ms: int = 100
    quiet_seconds: float = 5.0

    @property
    def paced(self) -> bool:
        return (self.idle_fetch_ms, self.idle_poll_ms) != (self.busy_fetch_ms, self.busy_poll_ms)


class PollPace:
    def __init__(self, subscriber: BatchPolling, settings: PaceSettings) -> None:
        self.subscriber = subscriber
        self.settings = settings
        self.idle = False
        self._last_record = time.monotonic()
        self._task: asyncio.Task[None] | None = None

    def records_arrived(self) -> None:
        """Called with every non-empty poll: back to the busy waits if they were raised."""
        self._last_record = time.monotonic()
        if self.idle:
            self._apply(idle=False)

    def start(self) -> None:
        if self.settings.paced and self._task is None:
            self._last_record = time.monotonic()
            self._task = asyncio.get_running_loop().create_task(self._watch())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _watch(self) -> None:
        check = max(self.settings.quiet_seconds / 2, 0.05)
        while True:
            await asyncio.sleep(check)
            quiet_for = time.monotonic() - self._last_record
            if not self.idle and quiet_for >= self.settings.quiet_seconds:
                self._apply(idle=True)

    def _apply(self, *, idle: bool) -> None:
        s = self.settings
        self.idle = idle
        self.subscriber.batch_timeout_ms = s.idle_poll_ms if idle else s.busy_poll_ms
        if self.subscriber.consumer is not None:
            _set_fetch_wait(self.subscriber.consumer, s.idle_fetch_ms if idle else s.busy_fetch_ms)


def _set_fetch_wait(consumer: AIOKafkaConsumer, wait_ms: int) -> None:
    fetcher: Any = getattr(consumer, "_fetcher", None)
    # None until the consumer has started; no attribute: an aiokafka that moved it (unpaced).
    if fetcher is not None and hasattr(fetcher, "_fetch_max_wait_ms"):
        fetcher._fetch_max_wait_ms = wait_ms


def fetch_wait_of(consumer: AIOKafkaConsumer) -> int | None:
    """The fetch wait the consumer's next fetch request will carry (None before it started)."""
    fetcher: Any = getattr(consumer, "_fetcher", None)
    return None if fetcher is None else int(fetcher._fetch_max_wait_ms)
