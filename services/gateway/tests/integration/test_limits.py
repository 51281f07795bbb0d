"""The two rate limits against a real Redis: both counters move in one round trip, a burst's
concurrent requests share one, and while the Redis server is down requests pass uncounted."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection
from redis.exceptions import ConnectionError as RedisConnectionError

from chassis.cache import create_redis
from chassis.errors import ProblemError
from chassis.testing.clock import ManualClock
from chassis.testing.infra import free_port, start_redis_server
from gateway_service.service import limits
from gateway_service.service.handling import client_limit

pytestmark = pytest.mark.integration
NOW = 1_800_000_030.0  # 30 s into a window


@pytest.fixture
def counter(redis_client: aioredis.Redis) -> limits.RateCounter:
    return limits.RateCounter(redis_client)


async def count(counter: limits.RateCounter, counted: list[limits.Limit], now: float) -> list[int]:
    """One request counted against `counted`: the counts, without a key to look up."""
    result = await counter.count_and_read(counted, now)
    assert result is not None, "Redis is up: the request is counted"
    return result[0]


@pytest.fixture
def round_trips(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Writes to Redis: a pipeline's commands go out together in one write, then its replies
    are read, so one write here is one round trip."""
    sent: list[int] = []
    real = Connection.send_packed_command

    async def counting(self: Connection, command: Any, check_health: bool = True) -> None:
        sent.append(1)
        await real(self, command, check_health)

    monkeypatch.setattr(Connection, "send_packed_command", counting)
    return sent


async def test_client_and_member_are_counted_in_one_round_trip(
    counter: limits.RateCounter,
    redis_client: aioredis.Redis,
    redis_key_prefix: str,
    round_trips: list[int],
) -> None:
    client = limits.Limit(f"{redis_key_prefix}client:10.0.0.1", 5)
    member = limits.Limit(f"{redis_key_prefix}member:m-1", 3)
    await redis_client.incrby(f"{client.key}:{int(NOW // 60)}", 2)  # two earlier requests
    await count(counter, [limits.Limit(f"{redis_key_prefix}warm-up", 5)], NOW)
    round_trips.clear()  # Redis knows the script now: it is run by its SHA
    assert await count(counter, [client, member], NOW) == [3, 1]
    assert len(round_trips) == 1
    window = int(NOW // 60)
    assert int(await redis_client.get(f"{client.key}:{window}")) == 3
    assert int(await redis_client.get(f"{member.key}:{window}")) == 1
    assert 0 < await redis_client.ttl(f"{member.key}:{window}") <= 61


async def test_keys_are_read_in_the_same_round_trip_as_the_counts(
    counter: limits.RateCounter,
    redis_client: aioredis.Redis,
    redis_key_prefix: str,
    round_trips: list[int],
) -> None:
    client = limits.Limit(f"{redis_key_prefix}client:10.0.0.3", 5)
    member = limits.Limit(f"{redis_key_prefix}member:m-3", 5)
    claimed, unclaimed = f"{redis_key_prefix}seen:a", f"{redis_key_prefix}seen:b"
    units = f"{redis_key_prefix}flash-stock:S"
    await redis_client.set(claimed, b"1")
    await redis_client.set(units, 7)
    await count(counter, [limits.Limit(f"{redis_key_prefix}warm-up", 5)], NOW)
    round_trips.clear()
    both = [client, member]
    assert await counter.count_and_read(both, NOW, [claimed]) == ([1, 1], [b"1"])
    # A key that does not exist reads None, wherever it stands among the others.
    assert await counter.count_and_read([client], NOW, [unclaimed, units]) == ([2], [None, b"7"])
    assert await counter.count_and_read([client], NOW) == ([3], [])
    assert len(round_trips) == 3


async def test_the_script_is_sent_again_when_redis_has_forgotten_it(
    counter: limits.RateCounter, redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    member = limits.Limit(f"{redis_key_prefix}member:m-4", 1000)
    assert await count(counter, [member], NOW) == [1]
    await redis_client.script_flush()  # as after a Redis restart
    assert await count(counter, [member], NOW) == [2]  # a request alone
    await redis_client.script_flush()
    counts = await asyncio.gather(*(count(counter, [member], NOW) for _ in range(10)))
    assert sorted(c[0] for c in counts) == list(range(3, 13))  # a burst, in one pipeline


async def test_over_a_limit_is_429_with_the_seconds_left_in_the_window(
    counter: limits.RateCounter, redis_key_prefix: str
) -> None:
    member = limits.Limit(f"{redis_key_prefix}member:m-2", 2)
    counts = [(await count(counter, [member], NOW))[0] for _ in range(3)]
    assert counts == [1, 2, 3]
    assert limits.over(member, counts[1], NOW) is None
    problem = limits.over(member, counts[2], NOW)
    assert isinstance(problem, ProblemError)
    assert problem.status == 429 and problem.code == "rate-limited"
    assert problem.headers == {"Retry-After": "31"}
    # The next window starts from zero.
    assert await count(counter, [member], NOW + 60) == [1]


async def test_a_bursts_requests_are_counted_by_one_pipeline(
    counter: limits.RateCounter, redis_key_prefix: str, round_trips: list[int]
) -> None:
    client = limits.Limit(f"{redis_key_prefix}client:10.0.0.9", 1000)
    await count(counter, [limits.Limit(f"{redis_key_prefix}warm-up", 5)], NOW)
    round_trips.clear()
    counts = await asyncio.gather(*(count(counter, [client], NOW) for _ in range(50)))
    assert sorted(c[0] for c in counts) == list(range(1, 51))  # each request counted once
    assert len(round_trips) == 1
    assert await count(counter, [client], NOW) == [51]  # one alone goes alone
    assert len(round_trips) == 2


async def test_with_redis_down_requests_pass_uncounted_until_it_is_back() -> None:
    """Failing open: a Redis server stopped in the middle makes the counts None (the request
    passes), asks Redis at most once per `retry_seconds` meanwhile, and counts again once the
    server is back on its port."""
    port = free_port()
    server = start_redis_server(port)
    redis = create_redis(f"redis://127.0.0.1:{port}/0")
    clock = ManualClock()
    counter = limits.RateCounter(redis, retry_seconds=1.0, clock=clock)
    client = limits.Limit("client:10.0.0.12", 5)
    try:
        assert await count_or_none(counter, client) == [1]
        server.terminate()
        server.wait(10)
        assert await count_or_none(counter, client) is None  # Redis asked, refused
        asked = counter.script.round_trips
        burst = await asyncio.gather(*(count_or_none(counter, client) for _ in range(20)))
        assert burst == [None] * 20
        assert counter.script.round_trips == asked  # within the window: not asked at all
        server = start_redis_server(port)  # back, empty, on the same port
        clock.now += 1.0
        assert await count_or_none(counter, client) == [1]
        assert await count_or_none(counter, client) == [2]
    finally:
        server.terminate()
        server.wait(10)
        await redis.aclose()


async def count_or_none(counter: limits.RateCounter, limit: limits.Limit) -> list[int] | None:
    counted = await counter.count_and_read([limit], NOW)
    return None if counted is None else counted[0]


async def test_not_failing_open_every_request_of_a_burst_fails_alike() -> None:
    unreachable = aioredis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=1)
    counter = limits.RateCounter(unreachable, fail_open=False)
    client = limits.Limit("client:10.0.0.11", 5)
    results = await asyncio.gather(
        *(count(counter, [client], NOW) for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(r, RedisConnectionError) for r in results), results
    await unreachable.aclose()


async def test_an_ipv6_client_is_counted_once_for_its_whole_64(
    counter: limits.RateCounter, redis_key_prefix: str
) -> None:
    # A subscriber holds a /64 and could send each request from a new address of it.
    settings: Any = SimpleNamespace(redis_key_prefix=redis_key_prefix, rate_per_client_per_minute=3)
    addresses = [f"2001:db8:77:1::{n:x}" for n in range(1, 5)]
    counts = [
        (await count(counter, [client_limit(settings, address)], NOW))[0] for address in addresses
    ]
    assert counts == [1, 2, 3, 4]
    assert limits.over(client_limit(settings, addresses[-1]), counts[-1], NOW) is not None
    other = await count(counter, [client_limit(settings, "2001:db8:77:2::1")], NOW)
    assert other == [1]  # the next /64 is another subscriber
