"""`/healthz` (the process is alive), `/readyz` (what the runtime depends on is reachable:
database and broker; Redis is reported, and its absence makes the service `degraded`, not
unready: see `BaseRuntime.degraded_probes`), `/metrics`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from chassis.metrics import refresh_on_scrape
from chassis.runtime import AnyBaseRuntime, Probe

# `probes` is what an orchestrator needs; `router` adds `/metrics` for a service that is only
# reachable on the private network. The gateway, which faces clients, serves its metrics on a
# listener of their own instead (`ServiceSpec.metrics_listener`).
probes = APIRouter(tags=["operations"])
router = APIRouter(tags=["operations"])


@probes.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


NEEDED_SECONDS = 3.0  # a dependency readiness waits for
REPORTED_SECONDS = 1.0  # one it only reports (Redis, for a service that serves without it)


async def _check(probe: Probe, timeout: float) -> str:
    try:
        await asyncio.wait_for(probe(), timeout=timeout)
    except Exception as exc:
        return f"unavailable: {type(exc).__name__}"
    return "ok"


@probes.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    # The runtime names what it depends on: database and broker (none for a service without a
    # database), then Redis, which it serves without. None while starting/stopping.
    runtime: AnyBaseRuntime | None = getattr(request.app.state, "runtime", None)
    if runtime is None:
        return JSONResponse({"status": "starting"}, status_code=503)
    needed, optional = runtime.readiness_probes(), runtime.degraded_probes()
    # What is only reported gets less time: a hung Redis must not make the probe itself late
    # (compose gives a health check 3 s).
    timed = [(p, NEEDED_SECONDS) for p in needed.values()]
    timed += [(p, REPORTED_SECONDS) for p in optional.values()]
    results = await asyncio.gather(*(_check(probe, seconds) for probe, seconds in timed))
    checks = dict(zip([*needed, *optional], results, strict=True))
    ready = all(checks[name] == "ok" for name in needed)
    whole = all(v == "ok" for v in checks.values())
    status = "ready" if whole else "degraded" if ready else "not ready"
    return JSONResponse({"status": status, "checks": checks}, status_code=200 if ready else 503)


@router.get("/metrics")
async def metrics() -> Response:
    await refresh_on_scrape()  # gauges that need a query (the outbox backlog)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


router.include_router(probes)
