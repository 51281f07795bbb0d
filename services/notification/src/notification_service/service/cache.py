"""In-process caches of what every event reads and almost nothing writes: members'
preferences and the active webhook subscriptions.

Several replicas: a cheap version check, not only a TTL. Every write that changes a cached
thing (`preferences.change`, used by the preferences route and the `membership.member.updated`
consumer; creating or deleting a webhook) goes through `preferences_written` /
`webhooks_written` with its session. After that transaction commits, the key is dropped here
and published to a change feed in Redis (a counter plus a sorted set of changed keys scored
by it, one Lua call). Each replica looks at the counter at most every `check_seconds`
(NOTIFICATION_CACHE_CHECK_SECONDS, 1 s), from whichever read comes first, and drops the keys
that changed since it last looked. So a write on another replica is seen here within about
`check_seconds`, for one Redis GET per second per replica instead of a round trip per event.
A TTL alone would have to be a few seconds, and a member's events are usually further apart
than that: their preferences would almost never be found in the cache.

`ttl_seconds` (NOTIFICATION_CACHE_TTL_SECONDS, 60 s) still bounds the age of an entry: if a
publish is lost (Redis unreachable just after a commit) other replicas see the change after
at most that long. While Redis cannot be read, the cache is emptied and bypassed (reads go to
the database, as without a cache) until a check succeeds. Without Redis (unit tests, tools)
only the TTL applies.

Transactions. The consumer's session may span several records (one transaction per polled
batch) and may roll back, so the cache never holds anything uncommitted:
- a session that wrote a key reads it from the database (its own uncommitted write) until
  it commits, and never stores what it read;
- any other read stores its result only if no invalidation happened while it was reading
  (a generation number), so a value read just before someone's commit is not kept.
Entries are plain frozen values (`Preferences`, `Subscription`), never ORM objects.

The dispatch job does not use this cache: it reads each subscription from the database when
it sends, so a deleted subscription is never sent to once its deletion committed.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar, cast

import redis.asyncio as aioredis
from sqlalchemy import event
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.logging import get_logger
from notification_service.domain.preferences import Preferences

log = get_logger(__name__)

_WRITTEN = "notification.cache.written"  # session.info: {(cache id, key)} written, uncommitted
_HOOKED = "notification.cache.hooked"  # session.info: ids of caches listening to its commit

WEBHOOKS = "webhooks"  # the key of the subscription list; a member's is "preferences:<id>"
FEED_LENGTH = 10_000  # changed keys kept in the feed; a replica further behind drops all

# KEYS: counter, feed, floor. ARGV: limit, changed keys. Returns the new counter.
PUBLISH = """
local n = redis.call('INCR', KEYS[1])
for i = 2, #ARGV do redis.call('ZADD', KEYS[2], n, ARGV[i]) end
local extra = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[1])
if extra > 0 then
  local gone = redis.call('ZRANGE', KEYS[2], extra - 1, extra - 1, 'WITHSCORES')
  redis.call('ZREMRANGEBYRANK', KEYS[2], 0, extra - 1)
  redis.call('SET', KEYS[3], gone[2])
end
return n
"""

T = TypeVar("T")


def preferences_key(member_id: str) -> str:
    return f"preferences:{member_id}"


@dataclass(frozen=True, slots=True)
class Subscription:
    """An active webhook subscription as the consumer needs it: who, and to what."""

    id: str
    events: frozenset[str]


@dataclass
class NotificationCache:
    ttl_seconds: float = 60.0
    check_seconds: float = 1.0
    max_members: int = 10_000
    clock: Callable[[], float] = field(default=time.monotonic)
    hits: int = 0
    misses: int = 0
    _entries: OrderedDict[str, tuple[float, Any]] = field(default_factory=OrderedDict)
    _generation: int = 0
    # The change feed; None: this process alone (TTL only).
    _redis: aioredis.Redis | None = None
    _prefix: str = ""
    _seen: int | None = None  # the feed's counter when last checked; None: not in sync
    _next_check: float = 0.0
    _checking: asyncio.Lock | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    def attach(self, redis: aioredis.Redis, prefix: str = "") -> None:
        """Follow (and feed) the change feed other replicas write to."""
        self._redis, self._prefix, self._seen = redis, prefix, None

    def __contains__(self, key: str) -> bool:
        """Whether a fresh entry for `key` is held (diagnostics and tests)."""
        entry = self._entries.get(key)
        return entry is not None and entry[0] > self.clock()

    # ---- reads ---------------------------------------------------------------------------

    async def preferences(
        self,
        session: AsyncSession,
        member_id: str,
        load: Callable[[AsyncSession, str], Awaitable[Preferences]],
    ) -> Preferences:
        return await self._get(
            session, preferences_key(member_id), lambda: load(session, member_id)
        )

    async def subscriptions(
        self,
        session: AsyncSession,
        load: Callable[[AsyncSession], Awaitable[tuple[Subscription, ...]]],
    ) -> tuple[Subscription, ...]:
        return await self._get(session, WEBHOOKS, lambda: load(session))

    async def _get(self, session: AsyncSession, key: str, load: Callable[[], Awaitable[T]]) -> T:
        if (id(self), key) in session.info.get(_WRITTEN, ()):
            return await load()  # this transaction changed it: only the session knows how
        usable = await self._follow_feed()
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            self._entries.move_to_end(key)
            self.hits += 1
            return cast(T, entry[1])
        self.misses += 1
        generation = self._generation
        value = await load()
        if usable and generation == self._generation:  # nobody invalidated meanwhile
            self._entries[key] = (now + self.ttl_seconds, value)
            self._entries.move_to_end(key)
            while len(self._entries) > self.max_members + 1:  # + the subscription list
                self._entries.popitem(last=False)
        return value

    # ---- writes --------------------------------------------------------------------------

    def preferences_written(self, session: AsyncSession, member_id: str) -> None:
        self._written(session, preferences_key(member_id))

    def webhooks_written(self, session: AsyncSession) -> None:
        self._written(session, WEBHOOKS)

    def invalidate(self, keys: Iterable[str] | None = None) -> None:
        """Drop `keys` (None: everything) now; reads under way will not store what they read."""
        self._generation += 1
        if keys is None:
            self._entries.clear()
            return
        for key in keys:
            self._entries.pop(key, None)

    def _written(self, session: AsyncSession, key: str) -> None:
        session.info.setdefault(_WRITTEN, set()).add((id(self), key))
        self.invalidate([key])
        hooked: set[int] = session.info.setdefault(_HOOKED, set())
        if id(self) not in hooked:
            hooked.add(id(self))
            event.listen(session.sync_session, "after_commit", self._after_commit)

    def _after_commit(self, sync_session: Any) -> None:
        """Drop again what the committed transaction wrote (a reader may have stored the old
        value between the write and the commit) and tell the other replicas. Runs inside the
        commit: no SQL, no waiting; the publish is a task of its own."""
        written: set[tuple[int, str]] = sync_session.info.get(_WRITTEN, set())
        keys = sorted(key for owner, key in written if owner == id(self))
        written -= {(id(self), key) for key in keys}
        if not keys:
            return
        self.invalidate(keys)
        if self._redis is not None:
            task = asyncio.get_running_loop().create_task(self._publish(keys))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    # ---- the change feed -----------------------------------------------------------------

    def _feed_keys(self) -> list[str]:
        base = f"{self._prefix}notification:cache"
        return [f"{base}:counter", f"{base}:feed", f"{base}:floor"]

    async def _publish(self, keys: list[str]) -> None:
        assert self._redis is not None
        try:
            await self._redis.eval(PUBLISH, 3, *self._feed_keys(), FEED_LENGTH, *keys)
        except (aioredis.RedisError, OSError) as exc:
            # Other replicas see the change once their entries age out (ttl_seconds).
            log.warning("cache change not published", keys=keys, error=repr(exc))

    async def _follow_feed(self) -> bool:
        """Apply the changes other replicas published, at most every `check_seconds`.
        False while the feed cannot be read: then nothing may be served from the cache."""
        if self._redis is None:
            return True
        now = self.clock()
        if now < self._next_check and self._seen is not None:
            return True
        if self._checking is None:
            self._checking = asyncio.Lock()
        async with self._checking:
            if self.clock() < self._next_check and self._seen is not None:
                return True  # another reader just did it
            try:
                await self._catch_up()
            except (aioredis.RedisError, OSError) as exc:
                if self._seen is not None:
                    log.warning("cache change feed unreadable, cache bypassed", error=repr(exc))
                self._seen = None
                self.invalidate()
                return False
            finally:
                self._next_check = self.clock() + self.check_seconds
        return True

    async def _catch_up(self) -> None:
        assert self._redis is not None
        counter, feed, floor = self._feed_keys()
        raw_counter, raw_floor = await self._redis.mget([counter, floor])
        current = int(raw_counter or 0)
        if self._seen is None or (raw_floor is not None and int(raw_floor) > self._seen):
            self.invalidate()  # first look, or further behind than the feed reaches
        elif current > self._seen:
            changed: list[Any] = await self._redis.zrangebyscore(feed, f"({self._seen}", current)
            self.invalidate(bytes(key).decode() for key in changed)
        self._seen = current

    async def close(self) -> None:
        """Wait for publishes under way (on shutdown)."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
