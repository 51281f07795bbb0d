"""Fixed-window rate limits in Redis, shared by every gateway replica."""

from __future__ import annotations

import time

import redis.asyncio as aioredis

from chassis.errors import ProblemError

WINDOW_SECONDS = 60


async def hit(redis: aioredis.Redis, key: str, limit: int) -> None:
    """Count one request for `key` in this minute; over `limit` is a 429 with Retry-After."""
    now = time.time()
    window = int(now // WINDOW_SECONDS)
    counter = f"{key}:{window}"
    async with redis.pipeline(transaction=True) as pipe:
        pipe.incr(counter)
        pipe.expire(counter, WINDOW_SECONDS + 1)
        count, _ = await pipe.execute()
    if int(count) > limit:
        retry = int(WINDOW_SECONDS - now % WINDOW_SECONDS) + 1
        raise ProblemError(
            429,
            f"more than {limit} requests a minute; retry in {retry} s",
            code="rate-limited",
            headers={"Retry-After": str(retry)},
        )
