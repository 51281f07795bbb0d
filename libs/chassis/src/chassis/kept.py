"""Values kept in a process's memory for a short time: the figures and pages a hot path would
otherwise fetch again for every request (see `chassis.cache.ReadCache` and the gateway's
product availability)."""

from __future__ import annotations

import time
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Kept(Generic[K, V]):
    """Each value is kept `seconds` after it was put, and at most `limit` of them: when full,
    the expired ones go first, then the oldest."""

    def __init__(
        self, seconds: float, limit: int, *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.seconds = seconds
        self.limit = limit
        self.clock = clock
        self._values: dict[K, tuple[V, float]] = {}  # key -> (value, kept until), oldest first

    def get(self, key: K) -> V | None:
        kept = self._values.get(key)
        if kept is None or kept[1] <= self.clock():
            return None
        return kept[0]

    def put(self, key: K, value: V) -> None:
        now = self.clock()
        if key not in self._values and len(self._values) >= self.limit:
            self._values = {k: kept for k, kept in self._values.items() if kept[1] > now}
            while len(self._values) >= self.limit:
                del self._values[next(iter(self._values))]
        self._values.pop(key, None)  # put back last: the dict stays oldest first
        self._values[key] = (value, now + self.seconds)

    def clear(self) -> None:
        self._values.clear()

    def __len__(self) -> int:
        return len(self._values)
