"""Redis away for a moment: after it fails to answer (it refused the connection, or a command
timed out), a caller skips it for `retry_seconds`; then one caller asks again while the others
still skip it until that one has its answer. A Redis that is down costs one failed connection a
second, and one that hangs (a partition, a stopped process) makes one caller wait for the
socket timeout (2 s, `chassis.cache.create_redis`) about every 3 s, not every caller. The outage
is logged once when it starts and once when it ends, not on every request it turned away.

The uses that can go without Redis (the read cache, the gateway's rate limits) each keep a
`RedisOutage` of their own, skip Redis and go on. The routes that cannot (login backoff gates,
the claim of an idempotency key) share one per process, the runtime's `redis_outage`, and call
through `ask`, which fails at once with `RedisAway` while Redis is being skipped: they answer
503 at once instead of each waiting for the socket timeout.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TypeVar

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from chassis.logging import get_logger

log = get_logger(__name__)

# What "Redis did not answer" is; any other error (a script's, a wrong type) is a bug to raise.
UNREACHABLE = (RedisConnectionError, RedisTimeoutError)
RETRY_SECONDS = 1.0

T = TypeVar("T")


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

    async def ask(self, call: Callable[[], Awaitable[T]], *, skip: bool = True) -> T:
        """`call()`, unless Redis is being skipped: then `RedisAway` at once, without asking
        (`skip=False`: always asked, for a write that must be tried, such as the answer of an
        operation that ran). Its outcome counts: no answer starts (or extends) the outage, any
        answer ends it, an error Redis sent back included."""
        if skip and self.skipping():
            raise RedisAway("Redis did not answer a moment ago; not asked again yet")
        try:
            result = await call()
        except UNREACHABLE as exc:
            self.failed(exc)
            raise
        except ResponseError:
            self.answered()
            raise
        self.answered()
        return result


class RedisAway(RedisConnectionError):
    """A command not sent: Redis failed to answer a moment ago (`RedisOutage.ask`). A
    `ConnectionError`, so every handling of an unreachable Redis applies (the chassis answers
    503 with `Retry-After: 1`)."""
