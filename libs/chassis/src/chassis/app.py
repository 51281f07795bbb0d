"""The app factory: one call gives a service its lifespan, middleware, errors and health."""

from __future__ import annotations

import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import structlog
from fastapi import APIRouter, FastAPI, Request, Response
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from chassis import health
from chassis.auth import JwksVerifier
from chassis.broker import make_broker, subscribe
from chassis.cache import create_redis
from chassis.consumer import ConsumerRunner, EventConsumer
from chassis.db import Database
from chassis.errors import install_problem_handlers
from chassis.logging import configure_logging, get_logger
from chassis.metrics import HTTP_LATENCY, HTTP_REQUESTS
from chassis.migrations import upgrade_async
from chassis.outbox import Outbox, OutboxRelay
from chassis.producer import EventProducer, ensure_topics
from chassis.runtime import Runtime
from chassis.settings import ServiceSettings
from chassis.telemetry import configure_tracing
from shared_events.topics import dead_letter_topic

log = get_logger(__name__)

Hook = Callable[[Runtime], Awaitable[None]]


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
    start_relay: bool = True  # tests turn it off to simulate a relay that is down
    version: str = "0.1.0"
    extra_routers: Sequence[APIRouter] = field(default_factory=list)


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
        broker = make_broker(settings)
        for consumer in spec.consumers:
            subscribe(
                broker,
                ConsumerRunner(
                    consumer,
                    database,
                    producer,
                    service=settings.service_name,
                    max_attempts=settings.consumer_max_attempts,
                    backoff_seconds=settings.consumer_backoff_seconds,
                ),
            )
        if spec.consumers:
            await broker.start()
        if spec.start_relay:
            relay.start()
        app.state.runtime = runtime
        log.info("service started", host=settings.host, port=settings.port)
        try:
            yield
        finally:
            app.state.runtime = None
            if spec.consumers:
                await broker.stop()
            await relay.stop()
            await producer.stop()
            await redis.aclose()
            await database.dispose()
            log.info("service stopped")

    app = FastAPI(title=spec.title, version=spec.version, lifespan=lifespan)
    app.state.runtime = None
    install_problem_handlers(app)
    app.include_router(health.router)
    for router in [*spec.routers, *spec.extra_routers]:
        app.include_router(router)
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
