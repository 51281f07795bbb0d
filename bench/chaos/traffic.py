"""A steady open-loop order load through the gateway that runs across a fault: orders keep
arriving at the same rate whatever the suite answers (bench.load's `send`), until stopped."""

from __future__ import annotations

import asyncio
import contextlib
import random
import time

from bench.load import Sent, send
from bench.storefront import Headers, Storefront


class SteadyLoad:
    """`sent` holds every order of the run, `accepted_ids()` those answered 2xx."""

    def __init__(
        self, store: Storefront, members: list[Headers], skus: list[str], rate: float
    ) -> None:
        self.store, self.members, self.skus, self.rate = store, members, skus, rate
        self.sent: list[Sent] = []
        self._tasks: set[asyncio.Task[None]] = set()
        self._schedule: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._schedule = asyncio.create_task(self._arrivals())

    async def _arrivals(self) -> None:
        began = time.perf_counter()
        for i in range(10**9):
            if (wait := began + i / self.rate - time.perf_counter()) > 0:
                await asyncio.sleep(wait)
            sent = Sent(time.perf_counter())
            self.sent.append(sent)
            member, sku = random.choice(self.members), random.choice(self.skus)
            task = asyncio.create_task(send(self.store, member, sku, sent))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def stop(self) -> None:
        """No new orders; wait for the answers of those sent (the client's timeout bounds it)."""
        if self._schedule:
            self._schedule.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._schedule
        await asyncio.gather(*self._tasks, return_exceptions=True)

    def accepted_ids(self) -> list[str]:
        return [s.order_id for s in self.sent if s.order_id]

    def sent_after(self, moment: float) -> list[Sent]:
        return [s for s in self.sent if s.started >= moment]
