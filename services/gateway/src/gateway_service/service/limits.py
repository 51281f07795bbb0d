"""Fixed-window rate limits in Redis, shared by every gateway replica.

A request is counted against its client and, when it carries a verified token, its member:
both counters move in one Lua script (one round trip, one reply), not one round trip each. An
order to a flash sale also asks, in that same round trip, whether its Idempotency-Key already
claimed units (gateway_service.service.flash_sale), so the sale's late buyers cost one round trip.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import redis.asyncio as aioredis

from chassis.errors import ProblemError
from gateway_service.adapters.redis_scripts import COUNT_SCRIPT

WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Limit:
    key: str
    per_minute: int


async def count(redis: aioredis.Redis, limits: list[Limit], now: float | None = None) -> list[int]:
    """Count one request against every limit in this minute's window, in one round trip;
    the counts, in the order given."""
    counts, _ = await count_and_look_up(redis, limits, now)
    return counts


async def count_and_look_up(
    redis: aioredis.Redis, limits: list[Limit], now: float | None = None, key: str | None = None
) -> tuple[list[int], bool]:
    """`count`, and in the same round trip whether `key` exists (False when no key is given):
    what the edge must know of a request from Redis, asked at once."""
    window = int((time.time() if now is None else now) // WINDOW_SECONDS)
    keys = [f"{limit.key}:{window}" for limit in limits]
    if key is not None:
        keys.append(key)
    # One script, one reply: a MULTI pipeline of INCR+EXPIRE per limit cost the gateway seven
    # replies to parse per request.
    count_script = redis.register_script(COUNT_SCRIPT)  # no round trip: the SHA, computed here
    replies = await count_script(keys=keys, args=[len(limits), WINDOW_SECONDS + 1])
    return [int(n) for n in replies[: len(limits)]], key is not None and bool(replies[-1])


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
