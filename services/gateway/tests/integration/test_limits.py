"""The two rate limits against a real Redis: both counters move in one round trip."""

from __future__ import annotations

from typing import Any

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import Connection

from chassis.errors import ProblemError
from gateway_service.service import limits

pytestmark = pytest.mark.integration
NOW = 1_800_000_030.0  # 30 s into a window


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
    redis_client: aioredis.Redis, redis_key_prefix: str, round_trips: list[int]
) -> None:
    client = limits.Limit(f"{redis_key_prefix}client:10.0.0.1", 5)
    member = limits.Limit(f"{redis_key_prefix}member:m-1", 3)
    await redis_client.incrby(f"{client.key}:{int(NOW // 60)}", 2)  # two earlier requests
    await limits.count(redis_client, [limits.Limit(f"{redis_key_prefix}warm-up", 5)], NOW)
    round_trips.clear()  # Redis knows the script now: it is run by its SHA
    assert await limits.count(redis_client, [client, member], NOW) == [3, 1]
    assert len(round_trips) == 1
    window = int(NOW // 60)
    assert int(await redis_client.get(f"{client.key}:{window}")) == 3
    assert int(await redis_client.get(f"{member.key}:{window}")) == 1
    assert 0 < await redis_client.ttl(f"{member.key}:{window}") <= 61


async def test_a_key_is_looked_up_in_the_same_round_trip_as_the_counts(
    redis_client: aioredis.Redis, redis_key_prefix: str, round_trips: list[int]
) -> None:
    client = limits.Limit(f"{redis_key_prefix}client:10.0.0.3", 5)
    member = limits.Limit(f"{redis_key_prefix}member:m-3", 5)
    claimed, unclaimed = f"{redis_key_prefix}seen:a", f"{redis_key_prefix}seen:b"
    await redis_client.set(claimed, b"1")
    await limits.count(redis_client, [limits.Limit(f"{redis_key_prefix}warm-up", 5)], NOW)
    round_trips.clear()
    both = [client, member]
    assert await limits.count_and_look_up(redis_client, both, NOW, claimed) == ([1, 1], True)
    assert await limits.count_and_look_up(redis_client, [client], NOW, unclaimed) == ([2], False)
    assert await limits.count_and_look_up(redis_client, [client], NOW) == ([3], False)
    assert len(round_trips) == 3


async def test_the_script_is_sent_again_when_redis_has_forgotten_it(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    member = limits.Limit(f"{redis_key_prefix}member:m-4", 5)
    assert await limits.count(redis_client, [member], NOW) == [1]
    await redis_client.script_flush()  # as after a Redis restart
    assert await limits.count(redis_client, [member], NOW) == [2]


async def test_over_a_limit_is_429_with_the_seconds_left_in_the_window(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    member = limits.Limit(f"{redis_key_prefix}member:m-2", 2)
    counts = [(await limits.count(redis_client, [member], NOW))[0] for _ in range(3)]
    assert counts == [1, 2, 3]
    assert limits.over(member, counts[1], NOW) is None
    problem = limits.over(member, counts[2], NOW)
    assert isinstance(problem, ProblemError)
    assert problem.status == 429 and problem.code == "rate-limited"
    assert problem.headers == {"Retry-After": "31"}
    # The next window starts from zero.
    assert await limits.count(redis_client, [member], NOW + 60) == [1]
