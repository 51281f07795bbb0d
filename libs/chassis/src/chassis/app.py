"""The app factory: one call gives a service its lifespan, middleware, errors and health."""

from __future__ import annotations

import asyncio
import os
import signal
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from fastapi import APIRouter, FastAPI
from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
from opentelemetry.sdk.trace.id_generator import RandomIdGenerator
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from chassis import health, telemetry
from chassis.broker import ConsumerGroup
from chassis.cache import create_redis
from chassis.consumer import ConsumerRunner, EventConsumer
from chassis.db import Database
from chassis.errors import PROBLEM_RESPONSES, document_problems, install_problem_handlers
from chassis.logging import configure_logging, get_logger
from chassis.metrics import HTTP_LATENCY, HTTP_REQUESTS
from chassis.migrations import upgrade_async
from chassis.producer import EventProducer, ensure_topics
from chassis.runtime import AnyRuntime, assemble_runtime
from chassis.settings import ServiceSettings
from chassis.telemetry import configure_tracing, fastapi_telemetry
from shared_events import Envelope
from shared_events.topics import dead_letter_topic

log = get_logger(__name__)

Hook = Callable[[AnyRuntime], Awaitable[object]]


@dataclass(frozen=True)
class Job:
    """A periodic task of a service (expiring reservations, saga timeouts, ...)."""

    name: str
    every_seconds: float
    run: Hook


async def _run_job(job: Job, runtime: AnyRuntime) -> None:
    while True:
        await asyncio.sleep(job.every_seconds)
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


@dataclass
class ServiceSpec:
    """Everything that makes one service different from another."""

    settings: ServiceSettings
    title: str
    routers: Sequence[APIRouter]
    migrations_dir: Path
    publishes: Sequence[str] = ()
    consumers: Sequence[EventConsumer] = ()
    # The service's own collaborators, built once the runtime exists (before the `on_start`
    # hooks, consumers and jobs) and kept typed as `runtime.state`.
    state: Callable[[AnyRuntime], Awaitable[object]] | None = None
    on_start: Sequence[Hook] = ()
    jobs: Sequence[Job] = ()
    start_relay: bool = True  # tests turn it off to simulate a relay that is down
    version: str = "0.1.0"


def create_service_app(spec: ServiceSpec) -> FastAPI:
    settings = spec.settings
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    configure_tracing(settings.service_name, settings.otel_exporter_otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.migrate_on_start:
            await upgrade_async(spec.migrations_dir, settings.database_url)
        topics = [*spec.publishes]
        for consumer in spec.consumers:
            topics += [consumer.topic, dead_letter_topic(consumer.topic)]
        if topics:
            await ensure_topics(
                settings.kafka_bootstrap_servers,
                topics,
                partitions=settings.kafka_partitions,
                replication=settings.kafka_replication_factor,
            )
        database = Database(settings.database_url)
        redis = create_redis(settings.redis_url)
        producer = EventProducer(
            settings.kafka_bootstrap_servers, idempotent=settings.kafka_idempotent_producer
        )
        await producer.start()
        runtime: AnyRuntime = assemble_runtime(settings, database, redis, producer, None)
        outbox, relay = runtime.outbox, runtime.relay
        if spec.state is not None:
            runtime.state = await spec.state(runtime)
        for hook in spec.on_start:
            await hook(runtime)
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
        jobs = [asyncio.create_task(_run_job(job, runtime), name=job.name) for job in spec.jobs]
        app.state.runtime = runtime
        log.info("service started", host=settings.host, port=settings.port)
        try:
            yield
        finally:
            app.state.runtime = None
            for task in jobs:
                task.cancel()
            await asyncio.gather(*jobs, return_exceptions=True)
            await consumers.stop()
            await relay.stop()
            await producer.stop()
            await redis.aclose()
            await database.dispose()
            log.info("service stopped")

    app = ServiceApp(
        title=spec.title, version=spec.version, lifespan=lifespan, telemetry=fastapi_telemetry()
    )
    app.state.runtime = None
    install_problem_handlers(app)
    app.include_router(health.router)
    for router in spec.routers:
        # Every error is problem+json: say so in the OpenAPI (clients, schema-driven tests).
        app.include_router(router, responses=PROBLEM_RESPONSES)
    app.add_middleware(RequestObserver, service=settings.service_name)
    instrument_http(app, settings.otel_exporter_otlp_endpoint)
    return app


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


class RequestObserver:
    """Request id (taken from X-Request-Id or made, bound into every log line, echoed on the
    response) and the HTTP metrics. Pure ASGI: Starlette's BaseHTTPMiddleware runs the app in
    a second task with memory streams between them, a measurable cost on every request."""

    def __init__(self, app: ASGIApp, service: str) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = header(scope, b"x-request-id") or uuid.uuid4().hex
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
