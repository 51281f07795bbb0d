"""The Redis read cache against a real Redis: a hit is one round trip, a write's invalidation
makes the next read load again, and a Redis that does not answer degrades to loading."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis

from chassis.cache import ReadCache, create_redis
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


async def test_a_redis_that_does_not_answer_means_loading() -> None:
    nowhere = create_redis(f"redis://127.0.0.1:{free_port()}/0")
    try:
        cache = ReadCache(nowhere, "catalog", ttl_seconds=30)
        load = Loads(b"from the database")
        assert await cache.get_or_load("product:p-4", load) == b"from the database"
        assert await cache.get_or_load("product:p-4", load) == b"from the database"
        assert load.count == 2
    finally:
        await nowhere.aclose()
