"""Going without Redis for a moment: for callers that can (a read cache, the rate limits), and
for the client itself (`OutageAwareRedis`), whose commands fail at once while Redis is away.

After Redis fails to answer (it refused the connection, or a command timed out), such callers
skip it for `retry_seconds`; then one of them asks again while the others still go without
until it has its answer: a Redis that is down costs one failed connection a second, and one
that hangs (a partition, a stopped process) makes one caller wait for the socket timeout (2 s,
`chassis.cache.create_redis`) about every 3 s, not every caller. The outage is logged once
when it starts and once when it ends, not on every request that went without.

Callers that cannot go without Redis (login backoff gates, idempotency keys, flash-sale
allowances) answer 503 while it is away. Through `OutageAwareRedis` (what
`chassis.cache.create_redis` makes) they get that answer at once during an outage instead of
each waiting for the socket timeout on a Redis that hangs.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import redis.asyncio as aioredis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chassis.logging import get_logger

log = get_logger(__name__)

# What "Redis did not answer" is; any other error (a script's, a wrong type) is a bug to raise.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
RETRY_SECONDS = 1.0


@dataclass
class RedisOutage:
    """Whether Redis is worth asking now, for the use named `what` (it goes in the logs)."""

    what: str
    retry_seconds: float = RETRY_SECONDS
    clock: Callable[[], float] = time.monotonic
    failing: bool = field(default=False, init=False)
    _retry_at: float = field(default=0.0, init=False)

    def skipping(self) -> bool:
        """True while Redis is known to be away: go without it. Past `retry_seconds` after the
        last failure, the first caller gets False and asks; the window starts again at once,
        so the others keep going without until that caller reports (`failed`, `answered`), or
        for another window should it never report."""
        if not self.failing:
            return False
        now = self.clock()
        if now < self._retry_at:
            return True
        self._retry_at = now + self.retry_seconds
        return False

    def failed(self, error: BaseException) -> None:
        if not self.failing:
            log.warning("Redis unreachable", use=self.what, error=str(error))
        self.failing = True
        self._retry_at = self.clock() + self.retry_seconds

    def answered(self) -> None:
        if self.failing:
            self.failing = False
            log.info("Redis reachable again", use=self.what)


class RedisAway(RedisConnectionError):
    """A command not sent: Redis failed to answer a moment ago (`OutageAwareRedis`). A
    `ConnectionError`, so every caller's handling of an unreachable Redis applies."""


class OutageAwareRedis(aioredis.Redis):
    """A Redis client whose single commands (GET, SET, scripts, PING) fail at once with
    `RedisAway` while `outage` skips Redis, instead of each waiting for its socket timeout.
    Pipelines are sent as they come: their users keep their own `RedisOutage` (the gateway's
    rate limits)."""

    def __init__(self, *args: Any, outage: RedisOutage | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outage = outage or RedisOutage("commands")

    async def execute_command(self, *args: Any, **options: Any) -> Any:
        if self.outage.skipping():
            raise RedisAway("Redis did not answer a moment ago; not asked again yet")
        try:
            result = await super().execute_command(*args, **options)  # type: ignore[no-untyped-call]
        except UNREACHABLE as exc:
            self.outage.failed(exc)
            raise
        except RedisError:  # an answer, if an error (a script's, a wrong type)
            self.outage.answered()
            raise
        self.outage.answered()
        return result
