"""Fixed-window rate limits in Redis, shared by every gateway replica.

A request is counted against its client and, when it carries a verified token, its member:
both counters move in one Lua script (one round trip, one reply), not one round trip each. An
order to a flash sale also reads, in that same round trip, whether its Idempotency-Key already
claimed units (gateway_service.service.flash_sale) and, in a sale's rush, the units left
(gateway_service.service.flash_stock), so a late buyer costs one round trip, which concurrent
requests share (one pipeline for a burst).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from chassis.coalesced import CoalescedScript
from chassis.errors import ProblemError
from gateway_service.adapters.redis_scripts import COUNT_SCRIPT

WINDOW_SECONDS = 60


@dataclass(frozen=True, slots=True)
class Limit:
    key: str
    per_minute: int


class RateCounter:
    """The limits' counters in Redis, through one script whose concurrent calls share a round
    trip (`chassis.coalesced`): a burst's requests are counted by one pipeline."""

    def __init__(self, redis: aioredis.Redis) -> None:
        self.script = CoalescedScript(redis, COUNT_SCRIPT)

    async def count_and_read(
        self, limits: list[Limit], now: float | None = None, keys: Sequence[str] = ()
    ) -> tuple[list[int], list[bytes | None]]:
        """Count one request against every limit in this minute's window (the counts, in the
        order given) and, in the same round trip, read `keys` (None where one does not exist):
        what the edge must know of a request from Redis, asked at once."""
        window = int((time.time() if now is None else now) // WINDOW_SECONDS)
        counters = [f"{limit.key}:{window}" for limit in limits]
        # One script, one reply: a MULTI pipeline of INCR+EXPIRE per limit cost the gateway
        # seven replies to parse per request.
        replies = await self.script([*counters, *keys], [len(limits), WINDOW_SECONDS + 1])
        return [int(n) for n in replies[: len(limits)]], list(replies[len(limits) :])


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
