"""The app factory: one call gives a service its lifespan, middleware, errors and health.

A service with a database (`ServiceSettings.owns_database`) gets the whole runtime: migrations,
topics, the producer, the outbox relay and its consumers. One without (the gateway) gets a
`BaseRuntime` (settings, Redis, the token verifier, its own state), and is ready without a
database or broker to wait for; the middleware, problem+json errors, probes and metrics are
the same for both.
"""

from __future__ import annotations

import asyncio
import functools
import os
import re
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any
from wsgiref.simple_server import WSGIServer

import structlog
from fastapi import APIRouter, FastAPI, Response
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from prometheus_client import start_http_server
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chassis import health, telemetry
from chassis.broker import ConsumerGroup
from chassis.cache import create_redis
from chassis.consumer import DEDUPE_MARGIN, ConsumerRunner, EventConsumer
from chassis.db import Database
from chassis.errors import (
    PROBLEM_RESPONSES,
    NotFound,
    document_problems,
    install_problem_handlers,
)
from chassis.logging import configure_logging, get_logger
from chassis.metrics import HTTP_LATENCY, HTTP_REQUESTS
from chassis.migrations import upgrade_async
from chassis.producer import EventProducer
from chassis.retention import (
    RETENTION_FIRST_AFTER_SECONDS,
    delete_old_inbox_rows,
    delete_sent_outbox_rows,
)
from chassis.runtime import AnyBaseRuntime, AnyRuntime, BaseRuntime, assemble_runtime, verifier_for
from chassis.settings import ServiceSettings
from chassis.telemetry import configure_tracing, fastapi_telemetry
from chassis.topics import apply_topics, specs_for
from shared_events import Envelope
from shared_events.topics import dead_letter_topic

log = get_logger(__name__)

# `make docs` writes each service's AsyncAPI document here (an image serves it if it copies it).
ASYNCAPI_DIR = Path(__file__).resolve().parents[4] / "docs" / "asyncapi"

# Called with the service's runtime: a `Runtime[...]`, or a `BaseRuntime[...]` for a service
# without a database; each service's hooks name their own type (its deps.py).
Hook = Callable[[Any], Awaitable[object]]


@dataclass(frozen=True)
class Job:
    """A periodic task of a service (expiring reservations, saga timeouts, ...)."""

    name: str
    every_seconds: float
    run: Hook
    # The first round's wait, when not `every_seconds` (a job that must run even in a
    # service restarted more often than its interval).
    first_after_seconds: float | None = None


async def _run_job(job: Job, runtime: AnyBaseRuntime) -> None:
    wait = job.every_seconds if job.first_after_seconds is None else job.first_after_seconds
    while True:
        await asyncio.sleep(wait)
        wait = job.every_seconds
        try:
            await job.run(runtime)
        except Exception as exc:  # the next round retries; nothing is lost by waiting
            log.exception("job failed", job=job.name, error=str(exc))


def _kill_after_commit(event_type: str) -> Callable[[Envelope], None]:
    """Crash-test fault: die (SIGKILL) after committing `event_type`, before the offset commit."""

    def maybe_die(envelope: Envelope) -> None:
        if envelope.type == event_type:
            log.warning(
                "fault injection: killing the process after commit", event_id=str(envelope.id)
            )
            os.kill(os.getpid(), signal.SIGKILL)

    return maybe_die


class ServiceApp(FastAPI):
    """FastAPI whose OpenAPI carries the `Problem` schema every route's errors refer to."""

    def openapi(self) -> dict[str, Any]:
        return document_problems(super().openapi())


@dataclass(frozen=True, kw_only=True)
class ServiceParts:
    """What a service adds to the chassis, the same for every settings instance. A service's
    main.py declares them once as a `chassis.service.Service` (which is one)."""

    routers: Sequence[APIRouter] = ()
    # Its Alembic history; None for a service without a database (`settings.owns_database`).
    migrations_dir: Path | None = None
    publishes: Sequence[str] = ()
    consumers: Sequence[EventConsumer] = ()
    # The service's own collaborators, built once the runtime exists (before the `on_start`
    # hooks, consumers and jobs) and kept typed as `runtime.state`.
    state: Hook | None = None
    on_start: Sequence[Hook] = ()
    # Run at shutdown once the jobs, consumers and relay have stopped, while the producer,
    # Redis and the database are still open (closing what `state` opened).
    on_stop: Sequence[Hook] = ()


@dataclass(frozen=True, kw_only=True)
class ServiceSpec(ServiceParts):
    """Everything that makes one service different from another, for one settings instance:
    its parts, and what follows from the settings. `chassis.service.Service` builds it; tests
    build one directly."""

    settings: ServiceSettings
    title: str
    jobs: Sequence[Job] = ()
    start_relay: bool = True  # tests turn it off to simulate a relay that is down
    version: str = "0.1.0"
    # None: the service serves its own OpenAPI document (and docs) from a router, or none.
    openapi_url: str | None = "/openapi.json"
    # The service's AsyncAPI document (docs/asyncapi/<service_name>.json); None: not served
    # here (the gateway serves the merged one from its own router).
    asyncapi_url: str | None = "/asyncapi.json"
    # `/metrics` on a listener of its own, (host, port), instead of on the service's port: for
    # a service that faces clients (the gateway). Port 0 serves it nowhere.
    metrics_listener: tuple[str, int] | None = None


def create_service_app(spec: ServiceSpec) -> FastAPI:
    settings = spec.settings
    if not settings.owns_database and (spec.publishes or spec.consumers):
        raise ValueError("publishing and consuming events need a database (outbox and inbox)")
    if settings.owns_database and spec.migrations_dir is None:
        raise ValueError("a service with a database needs its migrations_dir")
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    configure_tracing(settings.service_name, settings.otel_exporter_otlp_endpoint)
    run = _lifespan if settings.owns_database else _lifespan_without_database

    def lifespan(app: FastAPI) -> AbstractAsyncContextManager[None]:
        return run(app, spec)

    app = ServiceApp(
        title=spec.title,
        version=spec.version,
        lifespan=lifespan,
        openapi_url=spec.openapi_url,
        telemetry=fastapi_telemetry(),
    )
    app.state.runtime = None
    install_problem_handlers(app)
    app.include_router(health.probes if spec.metrics_listener else health.router)
    if spec.asyncapi_url:
        serve_asyncapi(app, spec.asyncapi_url, ASYNCAPI_DIR / f"{settings.service_name}.json")
    for router in spec.routers:
        # Every error is problem+json: say so in the OpenAPI (clients, schema-driven tests).
        app.include_router(router, responses=PROBLEM_RESPONSES)
    app.add_middleware(RequestObserver, service=settings.service_name)
    instrument_http(app, settings.otel_exporter_otlp_endpoint)
    return app


def serve_asyncapi(app: FastAPI, url: str, document: Path) -> None:
    """GET `url`: the committed document, read once (404 problem when this build has none)."""
    body = document.read_bytes() if document.is_file() else None

    async def asyncapi() -> Response:
        if body is None:
            raise NotFound(f"no AsyncAPI document in this build ({document.name})")
        return Response(body, media_type="application/json")

    app.add_api_route(url, asyncapi, methods=["GET"], include_in_schema=False)


@asynccontextmanager
async def _lifespan(app: FastAPI, spec: ServiceSpec) -> AsyncIterator[None]:
    settings = spec.settings
    assert spec.migrations_dir is not None  # create_service_app refuses a spec without it
    if settings.migrate_on_start:
        await upgrade_async(spec.migrations_dir, settings.database_url)
    topics = [*spec.publishes]
    for consumer in spec.consumers:
        topics += [consumer.topic, dead_letter_topic(consumer.topic)]
    if topics:
        # As declared in shared_events.topics: created if missing, configs aligned if not.
        await apply_topics(
            settings.kafka_bootstrap_servers,
            specs_for(topics, partitions=settings.kafka_topic_partitions),
            replication=settings.kafka_replication_factor,
        )
    database = Database(settings.database_url)
    redis = create_redis(settings.redis_url)
    producer = EventProducer(
        settings.kafka_bootstrap_servers, idempotent=settings.kafka_idempotent_producer
    )
    await producer.start()
    runtime = assemble_runtime(settings, database, redis, producer, None)
    outbox, relay = runtime.outbox, runtime.relay
    await _start(spec, runtime)
    consumers = ConsumerGroup(
        settings,
        [
            ConsumerRunner(
                consumer,
                database,
                producer,
                service=settings.service_name,
                outbox=outbox,
                runtime=runtime,
                max_attempts=settings.consumer_max_attempts,
                backoff_seconds=settings.consumer_backoff_seconds,
                dedupe_window=timedelta(days=settings.inbox_keep_days) - DEDUPE_MARGIN,
                after_commit=(
                    _kill_after_commit(settings.fault_kill_after_commit)
                    if settings.fault_kill_after_commit
                    else None
                ),
            )
            for consumer in spec.consumers
        ],
    )
    await consumers.start()
    if spec.start_relay:
        relay.start()
    async with _serving(
        app,
        spec,
        runtime,
        # Nothing new comes in (consumers), nothing is left unsent (relay), then the state.
        stop_first=(consumers.stop, relay.stop),
        close_last=(producer.stop, redis.aclose, database.dispose),
    ):
        yield


@asynccontextmanager
async def _lifespan_without_database(app: FastAPI, spec: ServiceSpec) -> AsyncIterator[None]:
    """No migrations, topics, producer, relay or consumers: Redis and the service's state."""
    settings = spec.settings
    redis = create_redis(settings.redis_url)
    runtime: AnyBaseRuntime = BaseRuntime(
        settings=settings, redis=redis, verifier=verifier_for(settings)
    )
    await _start(spec, runtime)
    async with _serving(app, spec, runtime, stop_first=(), close_last=(redis.aclose,)):
        yield


@asynccontextmanager
async def _serving(
    app: FastAPI,
    spec: ServiceSpec,
    runtime: AnyBaseRuntime,
    *,
    stop_first: Sequence[Callable[[], Awaitable[object]]],
    close_last: Sequence[Callable[[], Awaitable[object]]],
) -> AsyncIterator[None]:
    """Jobs and the metrics listener run and routes see the runtime while the app serves; at
    shutdown: jobs, then `stop_first`, the `on_stop` hooks, then `close_last`, in that order,
    each even when one before it failed."""
    settings = spec.settings
    jobs = _start_jobs(spec, runtime)
    metrics = _serve_metrics(spec.metrics_listener)
    app.state.runtime = runtime
    log.info("service started", host=settings.host, port=settings.port)
    try:
        yield
    finally:
        app.state.runtime = None
        hooks = [functools.partial(hook, runtime) for hook in spec.on_stop]
        try:
            await _run_each([functools.partial(_stop_jobs, jobs), *stop_first, *hooks, *close_last])
        finally:
            if metrics is not None:
                metrics.shutdown()
            log.info("service stopped")


async def _run_each(steps: Sequence[Callable[[], Awaitable[object]]]) -> None:
    """Run every stop step in order, even after one failed (the consumers' stop must not keep
    the relay from draining, nor the database from closing); each failure is logged, the
    first is raised once all have run."""
    failure: BaseException | None = None
    for step in steps:
        try:
            await step()
        except BaseException as exc:
            name = getattr(getattr(step, "func", step), "__qualname__", repr(step))
            log.error("stop step failed", step=name, error=repr(exc))
            failure = failure or exc
    if failure is not None:
        raise failure


async def _start(spec: ServiceSpec, runtime: AnyBaseRuntime) -> None:
    if spec.state is not None:
        runtime.state = await spec.state(runtime)
    await _run_hooks(spec.on_start, runtime)


async def _run_hooks(hooks: Sequence[Hook], runtime: AnyBaseRuntime) -> None:
    for hook in hooks:
        await hook(runtime)


def retention_jobs(spec: ServiceSpec) -> list[Job]:
    """The chassis' own housekeeping (chassis/retention.py): old inbox rows of a service that
    consumes, sent outbox rows of one that publishes."""
    settings = spec.settings
    inbox_keep = timedelta(days=settings.inbox_keep_days)
    outbox_keep = timedelta(hours=settings.outbox_keep_sent_hours)

    async def inbox(runtime: AnyRuntime) -> None:
        await delete_old_inbox_rows(runtime.database, keep=inbox_keep)

    async def outbox(runtime: AnyRuntime) -> None:
        await delete_sent_outbox_rows(runtime.database, keep=outbox_keep)

    every = settings.retention_check_seconds
    first = min(every, RETENTION_FIRST_AFTER_SECONDS)
    return [
        *([Job("inbox-retention", every, inbox, first)] if spec.consumers else []),
        *([Job("outbox-retention", every, outbox, first)] if spec.publishes else []),
    ]


def _start_jobs(spec: ServiceSpec, runtime: AnyBaseRuntime) -> list[asyncio.Task[None]]:
    # Only a service with a database consumes or publishes (build_app checks).
    jobs = [*spec.jobs, *retention_jobs(spec)]
    return [asyncio.create_task(_run_job(job, runtime), name=job.name) for job in jobs]


async def _stop_jobs(jobs: list[asyncio.Task[None]]) -> None:
    for task in jobs:
        task.cancel()
    await asyncio.gather(*jobs, return_exceptions=True)


def _serve_metrics(listener: tuple[str, int] | None) -> WSGIServer | None:
    """Prometheus' `/metrics` on its own listener (a thread), or None when it is off or its
    port is taken (a second gateway on one machine): the service matters more than its
    metrics."""
    if listener is None or listener[1] == 0:
        return None
    host, port = listener
    try:
        server, _ = start_http_server(port, addr=host)
    except OSError as exc:
        log.warning("metrics listener not started", port=port, error=str(exc))
        return None
    return server


def tracing_wanted(otlp_endpoint: str | None) -> bool:
    """Spans are worth building only when something receives them: an OTLP exporter, or a
    span processor a test or tool installed (chassis.telemetry.add_span_processor)."""
    if otlp_endpoint:
        return True
    enabled = getattr(telemetry, "tracing_enabled", None)
    if callable(enabled):
        return bool(enabled())
    # Before chassis.telemetry says so itself: the SDK keeps its processors in a private
    # attribute; absent (another provider), assume nobody listens.
    provider = trace.get_tracer_provider()
    processors = getattr(getattr(provider, "_active_span_processor", None), "_span_processors", ())
    return bool(processors)


def instrument_http(app: FastAPI, otlp_endpoint: str | None) -> None:
    """FastAPI spans when they go somewhere; otherwise only the W3C trace context is carried
    (TraceContext), so logs, events and upstream calls keep one trace id per request."""
    if tracing_wanted(otlp_endpoint):
        FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    else:
        app.add_middleware(TraceContext)


def header(scope: Scope, name: bytes) -> str | None:
    """The first value of request header `name` (lower case), as latin-1 like Starlette."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


# A caller's X-Request-Id is kept only when it is a plain token: it goes into log lines and
# response headers, and is passed on to the next service.
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def request_id_of(scope: Scope) -> str:
    """The request id RequestObserver chose for this request (to pass on to the next hop)."""
    return str(scope["request_id"])


class RequestObserver:
    """Request id (the caller's X-Request-Id when it is a plain token, else a new one; bound
    into every log line, kept in the scope for `request_id_of`, echoed on the response) and
    the HTTP metrics. Pure ASGI: Starlette's BaseHTTPMiddleware runs the app in a second task
    with memory streams between them, a measurable cost on every request."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = header(scope, b"x-request-id")
        request_id = given if given and REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope["request_id"] = request_id
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        # An exception that escapes the app becomes the 500 of ServerErrorMiddleware, outside.
        status = 500

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["x-request-id"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            route = getattr(scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            method = scope["method"]
            HTTP_REQUESTS.labels(self.service, method, route, str(status)).inc()
            HTTP_LATENCY.labels(self.service, method, route).observe(elapsed)
            structlog.contextvars.unbind_contextvars("request_id")


_propagator = TraceContextTextMapPropagator()
_ids = RandomIdGenerator()


class TraceContext:
    """The caller's `traceparent` continued (or a new trace started) without building spans:
    what FastAPI's instrumentation gives logs, outbox events and upstream calls, at a fraction
    of its cost, when no span would be exported anyway."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = header(scope, b"traceparent")
        parent = (
            trace.get_current_span(
                _propagator.extract({"traceparent": incoming})
            ).get_span_context()
            if incoming
            else None
        )
        if parent is not None and parent.is_valid:
            trace_id, flags = parent.trace_id, parent.trace_flags
        else:
            trace_id, flags = _ids.generate_trace_id(), TraceFlags(TraceFlags.SAMPLED)
        # A new span id for this hop, as a server span would have: the next hop's parent.
        here = SpanContext(trace_id, _ids.generate_span_id(), is_remote=False, trace_flags=flags)
        token = otel_context.attach(trace.set_span_in_context(NonRecordingSpan(here)))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)
