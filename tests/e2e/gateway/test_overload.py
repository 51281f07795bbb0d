"""A burst beyond what a service can take waits its turn at the gateway for a bounded time in a
bounded queue; beyond those bounds it is shed at once and before any work starts (503 +
Retry-After), never queued into a timeout after the work was done."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
import pytest
from fastapi import FastAPI

from chassis.testing.infra import free_port
from chassis.testing.serving import serve_app
from chassis.testing.tokens import TestTokenIssuer
from gateway_service.config import GatewaySettings
from gateway_service.main import create_app as create_gateway

pytestmark = pytest.mark.integration
CAPACITY = 4
WORK_SECONDS = 2.0


def slow_catalog(started: list[float], finished: list[float]) -> FastAPI:
    """A stand-in catalog whose every call takes WORK_SECONDS, and which records each call it
    began (the work a shed request must never have started) and when it was done."""
    app = FastAPI()

    @app.get("/api/v1/categories")
    async def categories() -> list[str]:
        started.append(time.monotonic())
        await asyncio.sleep(WORK_SECONDS)
        finished.append(time.monotonic())
        return []

    return app


@dataclass
class Edge:
    """A gateway in front of the slow catalog, a client of it, and the catalog's record of
    the calls it began and finished."""

    http: httpx.AsyncClient
    started: list[float] = field(default_factory=list)
    finished: list[float] = field(default_factory=list)


@asynccontextmanager
async def slow_edge(
    redis_url: str,
    redis_key_prefix: str,
    token_issuer: TestTokenIssuer,
    *,
    max_queued: int,
    queue_seconds: float,
) -> AsyncIterator[Edge]:
    started: list[float] = []
    finished: list[float] = []
    async with serve_app(slow_catalog(started, finished)) as catalog_url:
        settings = GatewaySettings(
            catalog_url=catalog_url,
            max_in_flight_per_service=CAPACITY,
            max_queued_per_service=max_queued,
            queue_seconds=queue_seconds,
            upstream_timeout_seconds=WORK_SECONDS * 5,
            redis_url=redis_url,
            redis_key_prefix=redis_key_prefix,
            jwks_url=token_issuer.jwks_url,  # type: ignore[attr-defined]
            metrics_port=free_port(),
            environment="test",
        )
        async with (
            serve_app(create_gateway(settings)) as url,
            httpx.AsyncClient(
                base_url=url, timeout=30, limits=httpx.Limits(max_connections=100)
            ) as http,
        ):
            yield Edge(http, started, finished)


async def test_a_burst_beyond_capacity_is_shed_before_the_work_starts(
    redis_url: str, redis_key_prefix: str, token_issuer: TestTokenIssuer
) -> None:
    # No queue: every call beyond the capacity is shed at once.
    async with slow_edge(
        redis_url, redis_key_prefix, token_issuer, max_queued=0, queue_seconds=0
    ) as edge:

        async def call() -> tuple[int, float, httpx.Headers]:
            response = await edge.http.get("/api/v1/categories")
            return response.status_code, time.monotonic(), response.headers

        results = await asyncio.gather(*(call() for _ in range(40)))
        shed = [(at, headers) for status, at, headers in results if status == 503]
        served = [status for status, _, _ in results if status == 200]
        assert len(served) + len(shed) == 40, [status for status, _, _ in results]
        assert CAPACITY <= len(served) < 40 and shed
        # Only the calls that were let through reached the service.
        assert len(edge.started) == len(served)
        for answered, headers in shed:
            assert headers["content-type"] == "application/problem+json"
            assert int(headers["retry-after"]) >= 1
            # Answered at once, not after waiting for a slot: before any work was done.
            assert answered < min(edge.finished)
        # Shedding is not a failure of the service: its breaker stays closed.
        assert (await edge.http.get("/api/v1/categories")).status_code == 200


async def test_a_burst_waits_its_turn_in_a_bounded_queue_and_the_rest_is_shed_at_once(
    redis_url: str, redis_key_prefix: str, token_issuer: TestTokenIssuer
) -> None:
    # Room for CAPACITY in flight and CAPACITY waiting, long enough for one round of work.
    async with slow_edge(
        redis_url,
        redis_key_prefix,
        token_issuer,
        max_queued=CAPACITY,
        queue_seconds=WORK_SECONDS * 2,
    ) as edge:

        async def call() -> tuple[int, float]:
            response = await edge.http.get("/api/v1/categories")
            return response.status_code, time.monotonic()

        results = await asyncio.gather(*(call() for _ in range(CAPACITY * 3)))
        served = sorted(at for status, at in results if status == 200)
        shed = [at for status, at in results if status == 503]
        # CAPACITY at once, CAPACITY more once a slot was free; the rest refused at once.
        assert len(served) == CAPACITY * 2 and len(shed) == CAPACITY, results
        assert max(shed) < min(edge.finished)
        assert len(edge.started) == CAPACITY * 2
        # Never more than CAPACITY calls at the service at the same time: the queued ones
        # began only after the first ones were done.
        assert sum(1 for at in edge.started if at < min(edge.finished)) == CAPACITY
        first_done = sorted(edge.finished)[CAPACITY - 1]
        assert served[-1] >= first_done + WORK_SECONDS * 0.9
