"""The Redis idempotency store (chassis.idempotency) when Redis fails after the operation ran:
the operation's answer goes to the client all the same, and its key is never freed for a
second run. On a real redis-server this test stops (SIGSTOP: it answers nothing)."""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest
import redis.asyncio as aioredis
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from chassis.errors import ProblemError
from chassis.idempotency import IdempotencyStore
from chassis.redis_outage import RETRY_SECONDS, RedisOutage
from chassis.testing.clock import ManualClock
from chassis.testing.infra import stoppable_redis

pytestmark = pytest.mark.integration


class Adjusted(BaseModel):
    sku: str


@pytest.fixture
async def hangable() -> AsyncIterator[tuple[aioredis.Redis, int]]:
    """A client (short socket timeout) of a throwaway redis-server, and the server's pid."""
    async with stoppable_redis(socket_timeout=0.5) as started:
        yield started


def adjuster(
    store: IdempotencyStore, ran: list[str], then: Callable[[], None]
) -> Callable[[], Awaitable[JSONResponse]]:
    """A stock adjustment under one key: notes each run in `ran`, then calls `then`."""

    async def operation() -> Adjusted:
        ran.append("adjusted")
        then()  # committed: what happens next must not let it run again
        return Adjusted(sku="sku-1")

    def adjust() -> Awaitable[JSONResponse]:
        return store.run(
            scope="stock",
            key="k-1",
            body=Adjusted(sku="sku-1"),
            status_code=201,
            operation=operation,
        )

    return adjust


async def retried(adjust: Callable[[], Awaitable[JSONResponse]]) -> str:
    """How a retry is answered: "replayed" (the stored answer: Redis applied the SET the
    client had given up on once it woke), or the problem's code ("idempotency-busy": the
    claim still holds). Either way, not by running the operation again."""
    try:
        answer = await adjust()
    except ProblemError as problem:
        return str(problem.code)
    return "replayed" if answer.headers.get("idempotent-replayed") == "true" else "ran again"


async def test_redis_failing_after_the_operation_still_answers_its_result(
    hangable: tuple[aioredis.Redis, int],
) -> None:
    client, pid = hangable
    clock = ManualClock()
    store = IdempotencyStore(client, "test:idem", outage=RedisOutage("test", clock=clock))
    ran: list[str] = []
    adjust = adjuster(store, ran, lambda: os.kill(pid, signal.SIGSTOP))
    answer = await adjust()  # the answer's SET times out: logged, not a 503
    assert (answer.status_code, answer.body) == (201, b'{"sku":"sku-1"}')
    os.kill(pid, signal.SIGCONT)
    clock.now += RETRY_SECONDS
    assert await retried(adjust) in {"replayed", "idempotency-busy"}
    assert ran == ["adjusted"]


async def test_a_cancellation_after_the_operation_does_not_free_its_key(
    hangable: tuple[aioredis.Redis, int],
) -> None:
    client, pid = hangable
    store = IdempotencyStore(client, "test:idem", outage=RedisOutage("test"))
    # Long enough that the cancellation, not the socket timeout, ends the wait.
    client.connection_pool.connection_kwargs["socket_timeout"] = 5
    ran: list[str] = []
    done = asyncio.Event()

    def hang_redis() -> None:
        os.kill(pid, signal.SIGSTOP)
        done.set()

    adjust = adjuster(store, ran, hang_redis)
    request = asyncio.create_task(adjust())
    await done.wait()
    await asyncio.sleep(0.1)  # the answer's SET sent, its reply awaited
    request.cancel()  # the client went away while the answer was being stored
    with pytest.raises(asyncio.CancelledError):
        await request
    os.kill(pid, signal.SIGCONT)
    assert await retried(adjust) in {"replayed", "idempotency-busy"}
    assert ran == ["adjusted"]
