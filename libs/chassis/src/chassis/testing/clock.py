"""A clock a test moves by hand (`clock.now += 0.5`), for code that takes a
`clock: Callable[[], float]` (the read cache, `Kept`, `RedisOutage`, ...)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class ManualClock:
    now: float = 100.0

    def __call__(self) -> float:
        return self.now
