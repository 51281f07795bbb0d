"""One read in flight per key: callers that ask for a key already being read wait for that
read instead of sending their own (a rush on one product or one flash-sale SKU costs the
upstream one request, not one per buyer)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class SingleFlight(Generic[K, V]):
    def __init__(self) -> None:
        self._flying: dict[K, asyncio.Future[V]] = {}

    async def run(self, key: K, read: Callable[[], Awaitable[V]]) -> V:
        flying = self._flying.get(key)
        if flying is None:
            flying = self._flying[key] = asyncio.ensure_future(read())
            flying.add_done_callback(lambda _: self._flying.pop(key, None))
        # shield: a caller who hangs up does not cancel the read the others are waiting for.
        return await asyncio.shield(flying)


class KeptRead(Generic[V]):
    """One value read once for all the callers waiting on it and kept for `seconds` (the
    merged API documents: public, unauthenticated, and each read asks every service); a value
    `complete` says is not (a service did not answer) is kept `incomplete_seconds` only, so
    the missing part is asked for again soon, but not by every request while it is down."""

    def __init__(
        self,
        seconds: float,
        clock: Callable[[], float] = time.monotonic,
        incomplete_seconds: float = 2.0,
    ) -> None:
        self.seconds = seconds
        self.incomplete_seconds = incomplete_seconds
        self.clock = clock
        self._flight: SingleFlight[str, V] = SingleFlight()
        self._kept: tuple[float, V] | None = None

    async def get(
        self, read: Callable[[], Awaitable[V]], complete: Callable[[V], bool] = lambda _: True
    ) -> V:
        if self._kept is not None and self.clock() < self._kept[0]:
            return self._kept[1]
        value = await self._flight.run("value", read)
        kept_for = self.seconds if complete(value) else min(self.seconds, self.incomplete_seconds)
        self._kept = (self.clock() + kept_for, value)
        return value
