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
from fastapi import APIRouter, FastAPI, Request, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from chassis import health
from chassis.auth import JwksVerifier
from chassis.broker import ConsumerGroups
from chassis.cache import create_redis
from chassis.consumer import ConsumerRunner, EventConsumer
from chassis.db import Database
from chassis.errors import PROBLEM_RESPONSES, document_problems, install_problem_handlers
from chassis.logging import configure_logging, get_logger
from chassis.metrics import HTTP_LATENCY, HTTP_REQUESTS
from chassis.migrations import upgrade_async
from chassis.outbox import Outbox, OutboxRelay
from chassis.producer import EventProducer, ensure_topics
from chassis.runtime import Runtime
from chassis.settings import ServiceSettings
from chassis.telemetry import configure_tracing
from shared_events import Envelope
from shared_events.topics import dead_letter_topic

log = get_logger(__name__)

Hook = Callable[[Runtime], Awaitable[object]]


@dataclass(frozen=True)
class Job:
    """A periodic task of a service (expiring reservations, saga timeouts, ...)."""

    name: str
    every_seconds: float
    run: Hook


async def _run_job(job: Job, runtime: Runtime) -> None:
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
        outbox = Outbox(source=f"/services/{settings.service_name}")
        relay = OutboxRelay(
            database,
            outbox,
            producer,
            service=settings.service_name,
            batch_size=settings.outbox_batch_size,
            poll_seconds=settings.outbox_poll_seconds,
        )
        runtime = Runtime(
            settings=settings,
            database=database,
            redis=redis,
            producer=producer,
            outbox=outbox,
            relay=relay,
            verifier=JwksVerifier(
                settings.jwks_url,
                issuer=settings.jwt_issuer,
                audience=settings.jwt_audience,
                algorithms=settings.jwt_algorithms,
            ),
        )
        for hook in spec.on_start:
            await hook(runtime)
        consumers = ConsumerGroups(
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

    app = ServiceApp(title=spec.title, version=spec.version, lifespan=lifespan)
    app.state.runtime = None
    install_problem_handlers(app)
    app.include_router(health.router)
    for router in spec.routers:
        # Every error is problem+json: say so in the OpenAPI (clients, schema-driven tests).
        app.include_router(router, responses=PROBLEM_RESPONSES)
    _install_request_middleware(app, settings.service_name)
    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    return app


def _install_request_middleware(app: FastAPI, service: str) -> None:
    @app.middleware("http")
    async def observe(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
        structlog.contextvars.bind_contextvars(request_id=request_id)
        started = time.perf_counter()
        status = 500
        try:
            response = await call_next(request)
            status = response.status_code
            response.headers["x-request-id"] = request_id
            return response
        finally:
            route = getattr(request.scope.get("route"), "path", "unmatched")
            elapsed = time.perf_counter() - started
            HTTP_REQUESTS.labels(service, request.method, route, str(status)).inc()
            HTTP_LATENCY.labels(service, request.method, route).observe(elapsed)
            structlog.contextvars.unbind_contextvars("request_id")
