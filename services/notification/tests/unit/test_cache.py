"""The preferences cache inside transactions (SQLite): a transaction sees its own uncommitted
write, nobody else does, a rollback leaves nothing behind, a commit is seen at once; without
a change feed an entry lives `ttl_seconds`."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from chassis.db import Database
from chassis.migrations import upgrade_async
from chassis.testing.clock import ManualClock
from notification_service.config import MIGRATIONS_DIR
from notification_service.service import preferences
from notification_service.service.cache import NotificationCache, preferences_key


@pytest.fixture
async def database(tmp_path: Path) -> AsyncIterator[Database]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'cache.db'}"
    await upgrade_async(MIGRATIONS_DIR, url)
    database = Database(url)
    yield database
    await database.dispose()


async def consent(database: Database, cache: NotificationCache, member_id: str) -> bool:
    async with database.sessions() as session:
        return (await preferences.cached(session, cache, member_id)).marketing_consent


async def test_own_write_seen_inside_the_transaction_and_a_rollback_leaves_nothing(
    database: Database,
) -> None:
    cache = NotificationCache(ttl_seconds=300)
    assert await consent(database, cache, "m-1") is False  # cached: the defaults
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            await preferences.change(session, "m-1", {"marketing_consent": True}, cache)
            # Later records of the same batch transaction see the write ...
            assert (await preferences.cached(session, cache, "m-1")).marketing_consent
            raise RuntimeError("the batch fails")
    # ... and after the rollback nothing of it was kept.
    assert preferences_key("m-1") not in cache
    assert await consent(database, cache, "m-1") is False


async def test_a_commit_is_seen_at_once(database: Database) -> None:
    cache = NotificationCache(ttl_seconds=300)
    assert await consent(database, cache, "m-2") is False
    hits = cache.hits
    assert await consent(database, cache, "m-2") is False
    assert cache.hits == hits + 1
    async with database.transaction() as session:
        await preferences.change(session, "m-2", {"marketing_consent": True}, cache)
        # A reader outside the transaction meanwhile reads (and may store) the old value ...
        assert await consent(database, cache, "m-2") is False
    # ... which the commit drops again.
    assert await consent(database, cache, "m-2") is True


async def test_without_a_feed_a_write_elsewhere_shows_after_the_ttl(database: Database) -> None:
    clock = ManualClock()
    cache = NotificationCache(ttl_seconds=5, clock=clock)
    elsewhere = NotificationCache()  # another replica: this cache is not told
    assert await consent(database, cache, "m-3") is False
    async with database.transaction() as session:
        await preferences.change(session, "m-3", {"marketing_consent": True}, elsewhere)
    clock.now += 4.9
    assert await consent(database, cache, "m-3") is False
    clock.now += 0.2
    assert await consent(database, cache, "m-3") is True
