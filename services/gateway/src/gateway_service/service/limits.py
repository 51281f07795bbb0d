"""Fixed-window rate limits in Redis, shared by every gateway replica.

A request is counted against its client and, when it carries a verified token, its member:
both counters move in one pipeline (one round trip), not one round trip each.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from chassis.errors import ProblemError

WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Limit:
    key: str
    per_minute: int


async def count(redis: aioredis.Redis, limits: list[Limit], now: float | None = None) -> list[int]:
    """Count one request against every limit in this minute's window, in one round trip;
    the counts, in the order given."""
    window = int((time.time() if now is None else now) // WINDOW_SECONDS)
    async with redis.pipeline(transaction=True) as pipe:
        for limit in limits:
            counter = f"{limit.key}:{window}"
            pipe.incr(counter)
            pipe.expire(counter, WINDOW_SECONDS + 1)
        replies = await pipe.execute()
    return [int(n) for n in replies[::2]]


def over(limit: Limit, counted: int, now: float | None = None) -> ProblemError | None:
    """The 429 (with Retry-After: the seconds left in the window) when `counted` passes it."""
    if counted <= limit.per_minute:
        return None
    now = time.time() if now is None else now
    retry = int(WINDOW_SECONDS - now % WINDOW_SECONDS) + 1
    return ProblemError(
        429,
        f"more than {limit.per_minute} requests a minute; retry in {retry} s",
        code="rate-limited",
        headers={"Retry-After": str(retry)},
    )
