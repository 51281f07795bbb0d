"""`OutageAwareRedis` on a real Redis that hangs (SIGSTOP: it takes connections and answers
nothing, as behind a partition): one command waits for its socket timeout, the next ones fail
at once without being sent, and one is sent again after the retry time."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator

import pytest
import redis.asyncio as aioredis
from redis.exceptions import TimeoutError as RedisTimeoutError

from chassis.redis_outage import RETRY_SECONDS, OutageAwareRedis, RedisAway, RedisOutage
from chassis.testing.clock import ManualClock
from chassis.testing.infra import free_port, start_redis_server

pytestmark = pytest.mark.integration


@pytest.fixture
def own_redis() -> Iterator[tuple[int, int]]:
    """A throwaway redis-server this test may stop: (port, pid)."""
    port = free_port()
    server = start_redis_server(port)
    try:
        yield port, server.pid
    finally:
        os.kill(server.pid, signal.SIGCONT)
        server.terminate()
        server.wait()


async def test_a_hung_redis_costs_one_timeout_then_commands_fail_at_once_until_it_answers(
    own_redis: tuple[int, int],
) -> None:
    port, pid = own_redis
    clock = ManualClock()
    pool = aioredis.BlockingConnectionPool.from_url(
        f"redis://127.0.0.1:{port}/0", socket_timeout=0.5, max_connections=4
    )
    client = OutageAwareRedis(connection_pool=pool, outage=RedisOutage("test", clock=clock))
    try:
        await client.set("k", b"v")
        os.kill(pid, signal.SIGSTOP)
        with pytest.raises(RedisTimeoutError):
            await client.get("k")  # sent, and waited for
        for _ in range(3):
            with pytest.raises(RedisAway):
                await client.get("k")  # not sent
        with pytest.raises(RedisAway):
            await client.ping()  # every single command alike (a readiness probe too)
        os.kill(pid, signal.SIGCONT)
        with pytest.raises(RedisAway):
            await client.get("k")  # back, but not asked again within the retry time
        clock.now += RETRY_SECONDS
        assert await client.get("k") == b"v"
        assert not client.outage.failing
        assert await client.get("k") == b"v"
    finally:
        await client.aclose()
        await pool.aclose()


async def test_an_error_redis_answers_is_raised_and_does_not_count_as_an_outage(
    own_redis: tuple[int, int],
) -> None:
    port, _ = own_redis
    client = OutageAwareRedis.from_url(f"redis://127.0.0.1:{port}/0")
    try:
        await client.set("text", b"not a number")
        with pytest.raises(aioredis.ResponseError):
            await client.incr("text")
        assert not client.outage.failing
        assert await client.get("text") == b"not a number"
    finally:
        await client.aclose()
