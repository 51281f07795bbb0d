"""The circuit breaker in front of a real HTTP service: a service that comes back is reached
again within the reset window, and a half-open breaker lets one call try while the others get
their 503 at once."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
import httpx
import pytest
from fastapi import FastAPI, Response
from starlette.requests import Request

from chassis.errors import ProblemError
from chassis.testing.infra import free_port
from chassis.testing.serving import serve_app
from gateway_service.adapters.upstreams import Upstreams

pytestmark = pytest.mark.integration

RESET = 2.0  # long enough that a loaded machine's slowness never replaces a trial


class OrderService:
    """Answers GET /api/v1/orders with `status`, holding each call until `answer` is set;
    `reached` is set by each call."""

    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.calls = 0
        self.answer = asyncio.Event()
        self.answer.set()
        self.reached = asyncio.Event()
        self.app = FastAPI()
        self.app.add_api_route("/api/v1/orders", self.orders)

    async def orders(self) -> Response:
        self.calls += 1
        self.reached.set()
        await self.answer.wait()
        return Response(b"[]", status_code=self.status, media_type="application/json")


@asynccontextmanager
async def upstreams(port: int) -> AsyncIterator[Upstreams]:
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5)) as session,
        httpx.AsyncClient() as client,
    ):
        yield Upstreams(
            {"order": f"http://127.0.0.1:{port}"},
            client,
            session,
            failures=2,
            reset_seconds=RESET,
        )


def get_orders() -> Request:
    return Request({"type": "http", "method": "GET", "path": "/api/v1/orders", "headers": []})


async def status_of(edge: Upstreams) -> int:
    try:
        response = await edge.forward("order", get_orders(), "/api/v1/orders", b"", "r", "c")
    except ProblemError as problem:
        return problem.status
    return response.status_code


async def test_a_service_back_up_is_reached_again_within_the_reset_window() -> None:
    port = free_port()
    async with upstreams(port) as edge:
        assert [await status_of(edge) for _ in range(2)] == [503, 503]  # nothing listens: open
        service = OrderService()
        async with serve_app(service.app, port):
            await asyncio.sleep(RESET)
            assert [await status_of(edge) for _ in range(3)] == [200, 200, 200]
            assert service.calls == 3


async def test_half_open_lets_one_call_try_while_the_others_fail_fast() -> None:
    service = OrderService(status=503)
    port = free_port()
    async with serve_app(service.app, port), upstreams(port) as edge:
        assert [await status_of(edge) for _ in range(2)] == [503, 503]  # two 503s: open
        await asyncio.sleep(RESET)
        service.status = 200
        service.answer.clear()  # the service is slow to answer the trial
        service.reached.clear()
        trial = asyncio.create_task(status_of(edge))
        await asyncio.wait_for(service.reached.wait(), 5)
        others = [await status_of(edge) for _ in range(5)]
        assert others == [503] * 5 and service.calls == 3  # they never reached it
        service.answer.set()
        assert await trial == 200  # the trial closes the breaker
        assert [await status_of(edge) for _ in range(2)] == [200, 200]


async def test_a_service_answering_500_is_still_reached() -> None:
    """A 500 is one request's bug, not the service's absence: a client that can provoke one
    must not open the breaker for every other client."""
    service = OrderService(status=500)
    port = free_port()
    async with serve_app(service.app, port), upstreams(port) as edge:
        assert [await status_of(edge) for _ in range(4)] == [500] * 4
        service.status = 200
        assert await status_of(edge) == 200
        assert service.calls == 5  # every call reached it
