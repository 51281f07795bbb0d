"""The chassis' request middleware (pure ASGI) on a real uvicorn: request ids, problem+json,
metrics and the W3C trace context carried without spans."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest
import structlog
from fastapi import FastAPI, Request

from chassis.app import RequestObserver, TraceContext, request_id_of
from chassis.errors import ProblemError, install_problem_handlers
from chassis.metrics import HTTP_REQUESTS
from chassis.telemetry import current_traceparent
from chassis.testing.serving import serve_app

PROBLEM = "application/problem+json"
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def make_app() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/seen")
    async def seen() -> dict[str, str | None]:
        bound = structlog.contextvars.get_contextvars()
        return {"request_id": bound.get("request_id"), "traceparent": current_traceparent()}

    @app.get("/passed-on")
    async def passed_on(request: Request) -> dict[str, str]:
        return {"request_id": request_id_of(request.scope)}  # what goes to the next hop

    @app.get("/conflict")
    async def conflict() -> None:
        raise ProblemError(409, "already there", code="conflict")

    @app.get("/boom")
    async def boom() -> None:
        raise RuntimeError("a bug")

    app.add_middleware(RequestObserver, service="middleware-test")
    app.add_middleware(TraceContext)
    return app


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with serve_app(make_app()) as url, httpx.AsyncClient(base_url=url) as client:
        yield client


async def test_the_request_id_is_bound_for_logs_and_echoed(http: httpx.AsyncClient) -> None:
    given = await http.get("/seen", headers={"X-Request-Id": "req-42"})
    assert given.headers["x-request-id"] == "req-42"
    assert given.json()["request_id"] == "req-42"
    made = await http.get("/seen")
    assert len(made.headers["x-request-id"]) == 32
    assert made.json()["request_id"] == made.headers["x-request-id"]


@pytest.mark.parametrize("junk", ["a b", "x" * 129, "id\u00e9", "<script>", "a,b"])
async def test_a_request_id_that_is_not_a_plain_token_is_replaced(
    http: httpx.AsyncClient, junk: str
) -> None:
    response = await http.get("/passed-on", headers={"X-Request-Id": junk.encode("utf-8")})
    chosen = response.headers["x-request-id"]
    assert chosen != junk and len(chosen) == 32
    assert response.json()["request_id"] == chosen  # logged, echoed and passed on alike
    kept = await http.get("/passed-on", headers={"X-Request-Id": "edge:1.2_3-x"})
    assert kept.json()["request_id"] == kept.headers["x-request-id"] == "edge:1.2_3-x"


async def test_errors_are_problems_and_are_counted(http: httpx.AsyncClient) -> None:
    def count(path: str, status: str) -> float:
        sample = HTTP_REQUESTS.labels("middleware-test", "GET", path, status)
        return float(sample._value.get())

    before = count("/conflict", "409")
    conflict = await http.get("/conflict", headers={"X-Request-Id": "req-409"})
    assert conflict.status_code == 409
    assert conflict.headers["content-type"] == PROBLEM
    assert conflict.headers["x-request-id"] == "req-409"
    assert conflict.json()["status"] == 409
    assert count("/conflict", "409") == before + 1
    crashed = await http.get("/boom")
    assert crashed.status_code == 500
    assert crashed.headers["content-type"] == PROBLEM
    assert crashed.json()["detail"] == "an unexpected error occurred"  # never the traceback
    assert count("/boom", "500") >= 1
    missing = await http.get("/nowhere")
    assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM


async def test_the_callers_trace_continues_and_a_new_one_starts_without_it(
    http: httpx.AsyncClient,
) -> None:
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    continued = (await http.get("/seen", headers={"traceparent": traceparent})).json()
    version, trace_id, span_id, flags = continued["traceparent"].split("-")
    assert (version, trace_id, flags) == ("00", TRACE_ID, "01")
    assert span_id != "00f067aa0ba902b7"  # this hop has its own id, the next hop's parent
    started = (await http.get("/seen")).json()["traceparent"].split("-")
    assert started[1] != TRACE_ID and int(started[1], 16) != 0
    junk = (await http.get("/seen", headers={"traceparent": "junk"})).json()
    assert junk["traceparent"].split("-")[1] != TRACE_ID
