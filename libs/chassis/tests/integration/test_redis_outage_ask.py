"""`RedisOutage.ask` on a real Redis that hangs (SIGSTOP: it takes connections and answers
nothing, as behind a partition): one call waits for its socket timeout, the next ones fail at
once without being sent, and one is sent again after the retry time. An error Redis answers
with is raised and ends the outage. An idempotency key's claim goes through it."""

from __future__ import annotations

import os
import signal
from collections.abc import AsyncIterator, Awaitable

import pytest
import redis.asyncio as aioredis
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import TimeoutError as RedisTimeoutError

from chassis.idempotency import IdempotencyStore
from chassis.redis_outage import RETRY_SECONDS, RedisAway, RedisOutage
from chassis.testing.clock import ManualClock
from chassis.testing.infra import stoppable_redis

pytestmark = pytest.mark.integration


@pytest.fixture
async def own_redis() -> AsyncIterator[tuple[aioredis.Redis, int]]:
    """A client of a throwaway redis-server this test may stop, and the server's pid."""
    async with stoppable_redis(socket_timeout=2.0) as started:
        yield started


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def outage(clock: ManualClock) -> RedisOutage:
    return RedisOutage("test", clock=clock)


async def test_a_hung_redis_costs_one_timeout_then_calls_fail_at_once_until_it_answers(
    own_redis: tuple[aioredis.Redis, int], outage: RedisOutage, clock: ManualClock
) -> None:
    client, pid = own_redis
    await client.set("k", b"v")
    os.kill(pid, signal.SIGSTOP)
    with pytest.raises(RedisTimeoutError):
        await outage.ask(lambda: client.get("k"))  # sent, and waited for
    sent: list[str] = []

    async def get() -> bytes | None:
        sent.append("GET")
        return await client.get("k")

    for _ in range(3):
        with pytest.raises(RedisAway):
            await outage.ask(get)
    os.kill(pid, signal.SIGCONT)
    with pytest.raises(RedisAway):
        await outage.ask(get)  # back, but not asked again within the retry time
    assert sent == []
    clock.now += RETRY_SECONDS
    assert await outage.ask(get) == b"v"
    assert sent == ["GET"]
    assert not outage.failing


async def test_an_error_redis_answers_is_raised_and_ends_an_outage(
    own_redis: tuple[aioredis.Redis, int], outage: RedisOutage, clock: ManualClock
) -> None:
    client, _ = own_redis
    outage.failed(RedisTimeoutError("a moment ago"))
    clock.now += RETRY_SECONDS
    await client.set("text", b"not a number")
    with pytest.raises(aioredis.ResponseError):
        await outage.ask(lambda: client.incr("text"))
    assert not outage.failing  # it answered


class Created(BaseModel):
    name: str


async def test_an_idempotency_key_on_a_hung_redis_is_refused_at_once_and_nothing_runs(
    own_redis: tuple[aioredis.Redis, int], outage: RedisOutage, clock: ManualClock
) -> None:
    """An admin create with an `Idempotency-Key` needs its key claimed first: while Redis is
    away the create is refused (503 through the chassis) before it runs, at once after the
    first."""
    client, pid = own_redis
    store = IdempotencyStore(client, "test:idem", outage=outage)
    ran: list[str] = []

    def create(key: str) -> Awaitable[JSONResponse]:
        async def operation() -> Created:
            ran.append(key)
            return Created(name=key)

        return store.run(
            scope="admin", key=key, body=Created(name=key), status_code=201, operation=operation
        )

    os.kill(pid, signal.SIGSTOP)
    with pytest.raises(RedisTimeoutError):
        await create("first")
    with pytest.raises(RedisAway):
        await create("second")
    os.kill(pid, signal.SIGCONT)
    clock.now += RETRY_SECONDS
    assert (await create("third")).status_code == 201
    assert ran == ["third"]
    replayed = await create("third")
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert ran == ["third"]
