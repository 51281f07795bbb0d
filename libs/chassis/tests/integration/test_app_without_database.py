"""The app factory for a service without a database (the gateway's shape) on a real Redis and
uvicorn: a `BaseRuntime` with the service's typed state, ready without Redis (degraded), `on_stop`
hooks, no OpenAPI of its own when asked, and `/metrics` on a listener of its own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import httpx
import pytest
from fastapi import APIRouter, Request

from chassis.app import ServiceSpec, create_service_app
from chassis.deps import runtime_of
from chassis.runtime import BaseRuntime
from chassis.settings import ServiceSettings
from chassis.testing.infra import free_port
from chassis.testing.serving import serve_app

pytestmark = pytest.mark.integration


class EdgeSettings(ServiceSettings):
    owns_database: ClassVar[bool] = False
    service_name: str = "edge-test"


@dataclass(frozen=True)
class EdgeState:
    name: str


EdgeRuntime = BaseRuntime[EdgeSettings, EdgeState]
router = APIRouter()


async def named(runtime: EdgeRuntime) -> EdgeState:
    return EdgeState(name=runtime.settings.service_name)


@router.get("/state")
async def state(request: Request) -> dict[str, str]:
    runtime: EdgeRuntime = runtime_of(request)
    return {"runtime": type(runtime).__name__, "state": runtime.state.name}


async def test_a_service_without_a_database_runs_on_redis_and_its_own_state(
    redis_url: str,
) -> None:
    stopped: list[str] = []

    async def build(runtime: EdgeRuntime) -> EdgeState:
        return EdgeState(name=runtime.settings.service_name)

    async def close(runtime: EdgeRuntime) -> None:
        stopped.append(runtime.state.name)
        await runtime.redis.ping()  # still open: on_stop runs before Redis is closed

    metrics_port = free_port()
    app = create_service_app(
        ServiceSpec(
            settings=EdgeSettings(redis_url=redis_url),
            title="edge",
            routers=[router],
            state=build,
            on_stop=[close],
            openapi_url=None,
            metrics_listener=("127.0.0.1", metrics_port),
        )
    )
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        ready = await http.get("/readyz")
        assert ready.status_code == 200
        assert ready.json() == {"status": "ready", "checks": {"redis": "ok"}}
        assert (await http.get("/state")).json() == {"runtime": "BaseRuntime", "state": "edge-test"}
        assert (await http.get("/openapi.json")).status_code == 404
        assert (await http.get("/metrics")).status_code == 404  # not on the service's port
        scraped = await http.get(f"http://127.0.0.1:{metrics_port}/metrics")
        assert scraped.status_code == 200
        assert '{method="GET",route="/state",service="edge-test",status="200"}' in scraped.text
        assert stopped == []
    assert stopped == ["edge-test"]
    assert app.state.runtime is None


async def test_without_redis_the_service_is_ready_but_says_it_is_degraded() -> None:
    """Redis serves rate limits, caches and backoff gates, not every route: a replica without
    it stays in its load balancer (an outage of Redis must not unready every replica of every
    service at once) and says what is missing."""
    dead = f"redis://127.0.0.1:{free_port()}/0"  # nothing listens there
    app = create_service_app(
        ServiceSpec(
            settings=EdgeSettings(redis_url=dead), title="edge", routers=[router], state=named
        )
    )
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        ready = await http.get("/readyz")
        served = await http.get("/state")
    assert ready.status_code == 200
    assert ready.json()["status"] == "degraded"
    assert ready.json()["checks"]["redis"].startswith("unavailable")
    assert served.status_code == 200


class EdgeNeedingRedis(EdgeSettings):
    @property
    def serves_without_redis(self) -> bool:
        return False  # as the gateway whose rate limits must not fail open


async def test_a_service_that_cannot_serve_without_redis_is_not_ready_without_it() -> None:
    dead = f"redis://127.0.0.1:{free_port()}/0"
    app = create_service_app(
        ServiceSpec(settings=EdgeNeedingRedis(redis_url=dead), title="edge", routers=[])
    )
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url) as http:
        ready = await http.get("/readyz")
    assert ready.status_code == 503
    assert ready.json()["status"] == "not ready"
    assert ready.json()["checks"]["redis"].startswith("unavailable")


async def test_a_route_between_stop_and_start_is_a_503_problem() -> None:
    app = create_service_app(ServiceSpec(settings=EdgeSettings(), title="edge", routers=[router]))
    transport = httpx.ASGITransport(app=app)  # no lifespan: the runtime is not there
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as http:
        response = await http.get("/state")
        starting = await http.get("/readyz")
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert starting.status_code == 503 and starting.json() == {"status": "starting"}


def test_events_need_a_database_and_a_database_needs_its_migrations() -> None:
    with pytest.raises(ValueError, match="need a database"):
        create_service_app(
            ServiceSpec(settings=EdgeSettings(), title="edge", routers=[], publishes=["x.events"])
        )
    with pytest.raises(ValueError, match="migrations_dir"):
        create_service_app(ServiceSpec(settings=ServiceSettings(), title="db", routers=[]))
