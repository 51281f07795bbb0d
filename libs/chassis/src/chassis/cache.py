"""A Redis read cache with generation-based invalidation.

Every key embeds a generation number; a write bumps the generation, which orphans every
cached entry at once (they expire by TTL). No key scans, no race between read and delete.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio as aioredis

from chassis.kept import Kept
from chassis.logging import get_logger
from chassis.redis_outage import UNREACHABLE, RedisOutage

log = get_logger(__name__)


# Connections one process keeps to Redis. Past it a caller waits for a free one (up to the
# timeout) instead of failing: a burst queues rather than turning into errors. The wait is
# long because only a burst makes it (Redis down fails at once, on connect): a flash sale's
# 2,000 buyers on one gateway waited more than 2 s for a connection and got 503s.
REDIS_MAX_CONNECTIONS = 64
REDIS_WAIT_SECONDS = 10.0


def create_redis(url: str) -> aioredis.Redis:
    pool = aioredis.BlockingConnectionPool.from_url(
        url,
        max_connections=REDIS_MAX_CONNECTIONS,
        timeout=REDIS_WAIT_SECONDS,
        socket_timeout=2.0,
        # A partition (no answer to the SYN) waits this long, not redis-py's default of 5 s.
        socket_connect_timeout=2.0,
        decode_responses=False,
    )
    return aioredis.Redis(connection_pool=pool)


# The generation and the entry it names, in one round trip (run by its SHA: the script is sent
# once). The entry's key is built inside the script, so this is for a single Redis, not a
# cluster. A miss comes back as [generation, None].
READ_SCRIPT = """
local generation = redis.call('GET', KEYS[1]) or '0'
return {generation, redis.call('GET', ARGV[1] .. ':' .. generation .. ':' .. ARGV[2])}
"""


class ReadCache:
    """Entries in Redis, shared by every replica; with `local_seconds`, each entry is also kept
    in this process's memory that long (at most `local_entries` of them): a hot key then costs
    no round trip at all. This process's own writes clear its memory at once (`invalidate`);
    another replica's show here within `local_seconds`."""

    def __init__(
        self,
        redis: aioredis.Redis,
        namespace: str,
        *,
        ttl_seconds: int = 60,
        local_seconds: float = 0.0,
        local_entries: int = 1000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds
        self.local_seconds = local_seconds
        self._local: Kept[str, bytes] = Kept(local_seconds, local_entries, clock=clock)
        self._cleared = 0  # how many times invalidate() cleared the memory
        self._read = redis.register_script(READ_SCRIPT)
        # While Redis does not answer, reads load without asking it (and log it once).
        self.outage = RedisOutage(f"read cache {namespace}", clock=clock)

    @property
    def _generation_key(self) -> str:
        return f"{self.namespace}:generation"

    async def get_or_load(self, key: str, load: Callable[[], Awaitable[bytes]]) -> bytes:
        """Serve from memory, else from Redis (one round trip), else load and store. Redis
        trouble degrades to loading, never fails."""
        if self.local_seconds > 0:
            kept = self._local.get(key)
            if kept is not None:
                return kept
            cleared = self._cleared
            value = await self._get_or_load(key, load)
            if cleared == self._cleared:  # not read from before a write of this process
                self._local.put(key, value)
            return value
        return await self._get_or_load(key, load)

    async def _get_or_load(self, key: str, load: Callable[[], Awaitable[bytes]]) -> bytes:
        try:
            found: Any = await self.outage.ask(
                lambda: self._read(keys=[self._generation_key], args=[self.namespace, key])
            )
        except UNREACHABLE:  # away, or skipped while it is: load without it
            return await load()
        except aioredis.RedisError as exc:  # Redis answered, with an error
            log.warning("cache read failed", error=str(exc))
            return await load()
        if found[1] is not None:
            return bytes(found[1])
        full_key = f"{self.namespace}:{int(found[0])}:{key}"
        value = await load()
        try:
            await self.outage.ask(
                lambda: self.redis.set(full_key, value, ex=self.ttl_seconds), skip=False
            )
        except UNREACHABLE:
            pass  # the outage has noted it
        except aioredis.RedisError as exc:
            log.warning("cache write failed", error=str(exc))
        return value

    async def invalidate(self) -> None:
        """Call after the write committed. If Redis is down the write still stands; entries
        then age out within `ttl_seconds`."""
        self._local.clear()
        self._cleared += 1
        try:
            await self.redis.incr(self._generation_key)
        except aioredis.RedisError as exc:
            log.warning("cache invalidation failed; entries expire by TTL", error=str(exc))
