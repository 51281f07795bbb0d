"""Fixed-window rate limits in Redis, shared by every gateway replica.

A request is counted against its client and, when it carries a verified token, its member:
both counters move in one Lua script (one round trip, one reply), not one round trip each. An
order to a flash sale also reads, in that same round trip, whether its Idempotency-Key already
claimed units (gateway_service.service.flash_sale) and, in a sale's rush, the units left
(gateway_service.service.flash_stock), so a late buyer costs one round trip, which concurrent
requests share (one pipeline for a burst).

While Redis cannot be reached the limits fail open (`GATEWAY_RATE_LIMITS_FAIL_OPEN`, on by
default): requests pass uncounted rather than every storefront call failing with Redis. The
caps that protect the services (in-flight calls, the queue, the breakers) are in memory and
still hold; a flash-sale order, whose allowance only Redis can claim, is still refused (503).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis.asyncio as aioredis

from chassis.coalesced import CoalescedScript
from chassis.errors import ProblemError
from chassis.redis_outage import RETRY_SECONDS, UNREACHABLE, RedisOutage
from gateway_service.adapters.redis_scripts import COUNT_SCRIPT

WINDOW_SECONDS = 60

Counted = tuple[list[int], list[bytes | None]]


@dataclass(frozen=True, slots=True)
class Limit:
    key: str
    per_minute: int


class RateCounter:
    """The limits' counters in Redis, through one script whose concurrent calls share a round
    trip (`chassis.coalesced`): a burst's requests are counted by one pipeline. With
    `fail_open`, a Redis that cannot be reached lets requests pass uncounted (see above)."""

    def __init__(
        self,
        redis: aioredis.Redis,
        *,
        fail_open: bool = True,
        retry_seconds: float = RETRY_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.script = CoalescedScript(redis, COUNT_SCRIPT)
        self.fail_open = fail_open
        self.outage = RedisOutage("rate limits", retry_seconds=retry_seconds, clock=clock)

    async def count_and_read(
        self, limits: list[Limit], now: float | None = None, keys: Sequence[str] = ()
    ) -> Counted | None:
        """Count one request against every limit in this minute's window (the counts, in the
        order given) and, in the same round trip, read `keys` (None where one does not exist):
        what the edge must know of a request from Redis, asked at once. None when Redis cannot
        be reached and the limits fail open: nothing was counted or read."""
        if self.outage.skipping():
            return None
        window = int((time.time() if now is None else now) // WINDOW_SECONDS)
        counters = [f"{limit.key}:{window}" for limit in limits]
        try:
            # One script, one reply: a MULTI pipeline of INCR+EXPIRE per limit cost the
            # gateway seven replies to parse per request.
            replies = await self.script([*counters, *keys], [len(limits), WINDOW_SECONDS + 1])
        except UNREACHABLE as exc:
            if not self.fail_open:
                raise
            self.outage.failed(exc)  # requests pass uncounted for a moment
            return None
        self.outage.answered()
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
