"""`/healthz` (the process is alive), `/readyz` (database, broker, Redis reachable), `/metrics`."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chassis.metrics import refresh_on_scrape

# `probes` is what an orchestrator needs; `router` adds `/metrics` for a service that is only
# reachable on the private network. The gateway, which faces clients, serves its metrics on a
# port of their own instead (gateway_service.metrics).
probes = APIRouter(tags=["operations"])
router = APIRouter(tags=["operations"])


@probes.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _check(probe: Callable[[], Awaitable[object]]) -> str:
    try:
        await asyncio.wait_for(probe(), timeout=3.0)
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"


Probe = Callable[[], Awaitable[object]]


def _probes(app_state: object) -> dict[str, Probe] | None:
    """A service's dependencies: its runtime's database, broker and Redis, or the probes an
    app without a runtime (the gateway) registers as `app.state.readiness_probes`."""
    probes: dict[str, Probe] | None = getattr(app_state, "readiness_probes", None)
    if probes is not None:
        return probes
    runtime = getattr(app_state, "runtime", None)
    if runtime is None:
        return None
    return {
        "database": runtime.database.ping,
        "broker": runtime.producer.ping,
        "redis": runtime.redis.ping,
    }


@probes.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    probes = _probes(request.app.state)
    if probes is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    results = await asyncio.gather(*(_check(probe) for probe in probes.values()))
    checks = dict(zip(probes, results, strict=True))
    ready = all(v == "ok" for v in checks.values())
    return JSONResponse(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status_code=200 if ready else 503,
    )


@router.get("/metrics")
async def metrics() -> Response:
    await refresh_on_scrape()  # gauges that need a query (the outbox backlog)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


router.include_router(probes)
