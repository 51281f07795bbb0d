"""The Redis read cache against a real Redis: a hit is one round trip, a write's invalidation
makes the next read load again, and a Redis that does not answer degrades to loading (and is
not asked again for a moment)."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from chassis.cache import ReadCache, create_redis
from chassis.redis_outage import RETRY_SECONDS
from chassis.testing.clock import ManualClock
from chassis.testing.infra import free_port

pytestmark = pytest.mark.integration


class Loads:
    def __init__(self, value: bytes) -> None:
        self.value = value
        self.count = 0

    async def __call__(self) -> bytes:
        self.count += 1
        return self.value


def count_round_trips(client: aioredis.Redis) -> list[str]:
    """The commands `client` sends from now on (each one round trip), by name."""
    sent: list[str] = []
    execute = client.execute_command

    async def counted(*args: Any, **options: Any) -> Any:
        sent.append(str(args[0]))
        return await execute(*args, **options)

    client.execute_command = counted  # type: ignore[method-assign]
    return sent


async def test_a_hit_is_one_round_trip_and_no_load(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    cache = ReadCache(redis_client, f"{redis_key_prefix}catalog", ttl_seconds=30)
    load = Loads(b'{"id": "p-1"}')
    assert await cache.get_or_load("product:p-1", load) == b'{"id": "p-1"}'
    assert load.count == 1
    sent = count_round_trips(redis_client)
    assert await cache.get_or_load("product:p-1", load) == b'{"id": "p-1"}'
    assert load.count == 1
    assert sent == ["EVALSHA"]


async def test_after_an_invalidation_the_next_read_loads_again(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    cache = ReadCache(redis_client, f"{redis_key_prefix}catalog", ttl_seconds=30)
    await cache.get_or_load("product:p-2", Loads(b"old"))
    await cache.invalidate()
    fresh = Loads(b"new")
    assert await cache.get_or_load("product:p-2", fresh) == b"new"
    assert await cache.get_or_load("product:p-2", fresh) == b"new"
    assert fresh.count == 1


async def test_the_read_survives_a_flushed_script_cache(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    cache = ReadCache(redis_client, f"{redis_key_prefix}catalog", ttl_seconds=30)
    load = Loads(b"kept")
    await cache.get_or_load("product:p-3", load)
    await redis_client.script_flush()
    assert await cache.get_or_load("product:p-3", load) == b"kept"
    assert load.count == 1


async def test_a_redis_that_does_not_answer_means_loading_without_asking_it_for_a_moment() -> None:
    nowhere = create_redis(f"redis://127.0.0.1:{free_port()}/0")
    clock = ManualClock()
    try:
        cache = ReadCache(nowhere, "catalog", ttl_seconds=30, clock=clock)
        asked = count_round_trips(nowhere)
        load = Loads(b"from the database")
        assert await cache.get_or_load("product:p-4", load) == b"from the database"
        assert len(asked) == 1  # tried, refused: loaded
        assert await cache.get_or_load("product:p-4", load) == b"from the database"
        assert await cache.get_or_load("product:p-5", load) == b"from the database"
        assert len(asked) == 1  # within the retry time: not asked again
        clock.now += RETRY_SECONDS
        assert await cache.get_or_load("product:p-4", load) == b"from the database"
        assert len(asked) == 2  # asked again after it
        assert load.count == 4
    finally:
        await nowhere.aclose()


async def test_a_hot_key_kept_in_memory_costs_no_round_trip_for_its_time(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    clock = ManualClock()
    cache = ReadCache(redis_client, f"{redis_key_prefix}catalog", local_seconds=1.0, clock=clock)
    load = Loads(b"v1")
    await cache.get_or_load("product:p-5", load)
    sent = count_round_trips(redis_client)
    clock.now += 0.9
    assert await cache.get_or_load("product:p-5", load) == b"v1"
    assert sent == []
    clock.now += 0.2  # past its second: Redis again (its entry there still good)
    assert await cache.get_or_load("product:p-5", load) == b"v1"
    assert sent == ["EVALSHA"] and load.count == 1


async def test_a_write_here_clears_the_memory_at_once_another_replicas_in_its_time(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    clock = ManualClock()
    namespace = f"{redis_key_prefix}catalog"
    here = ReadCache(redis_client, namespace, local_seconds=1.0, clock=clock)
    there = ReadCache(redis_client, namespace, local_seconds=1.0, clock=clock)
    await here.get_or_load("product:p-6", Loads(b"old"))
    await there.get_or_load("product:p-6", Loads(b"old"))
    await here.invalidate()  # a write on this replica
    assert await here.get_or_load("product:p-6", Loads(b"new")) == b"new"
    assert await there.get_or_load("product:p-6", Loads(b"new")) == b"old"
    clock.now += 1.1
    assert await there.get_or_load("product:p-6", Loads(b"newer")) == b"new"


async def test_a_read_that_began_before_a_write_is_not_kept(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    cache = ReadCache(redis_client, f"{redis_key_prefix}catalog", local_seconds=60.0)
    writes_meanwhile = cache.invalidate

    async def slow_old_load() -> bytes:
        await writes_meanwhile()  # the write commits while this read is on its way
        return b"old"

    assert await cache.get_or_load("product:p-7", slow_old_load) == b"old"
    assert await cache.get_or_load("product:p-7", Loads(b"new")) == b"new"
