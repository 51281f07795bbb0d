"""A service under test, running for real: its settings with the suite's test values, its app
served on a loopback port with an HTTP client, and a started producer that puts other
services' events on the broker, as their relays do.

    settings = settings_under_test(PaymentSettings, database_url=..., kafka_bootstrap_servers=
                                   kafka, redis_url=redis_url, jwks_url=issuer.jwks_url)
    app = create_app(settings)
    async with started_producer(kafka) as producer, serve_with_client(app) as http:
        yield PaymentService(app, http, settings, producer)  # a FedService
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import httpx
from fastapi import FastAPI

from chassis.db import Database
from chassis.producer import EventProducer
from chassis.runtime import Runtime
from chassis.settings import ServiceSettings
from chassis.testing.event_tables import staged_types, wait_handled
from chassis.testing.events import send, subject_of
from chassis.testing.infra import DatabaseFactory
from chassis.testing.serving import serve_app
from shared_events import Envelope, EventPayload

SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
RuntimeT = TypeVar("RuntimeT", bound=Runtime[Any, Any])

# What every service under test runs with: test mode, and an outbox relay and consumer retries
# fast enough that a test waits milliseconds, not the production seconds, for an event.
TEST_VALUES: dict[str, Any] = {
    "environment": "test",
    "outbox_poll_seconds": 0.05,
    "consumer_backoff_seconds": 0.05,
}


def settings_under_test(
    settings_class: type[SettingsT],
    *,
    database_url: str,
    kafka_bootstrap_servers: str,
    redis_url: str,
    jwks_url: str,
    redis_key_prefix: str | None = None,
    **overrides: Any,
) -> SettingsT:
    """The service's settings on the test's servers, with `TEST_VALUES` and `overrides`. The
    Redis keys get a prefix of their own unless one is given, so no other test meets them."""
    values: dict[str, Any] = {
        "database_url": database_url,
        "kafka_bootstrap_servers": kafka_bootstrap_servers,
        "redis_url": redis_url,
        "redis_key_prefix": redis_key_prefix or f"test:{uuid.uuid4().hex[:8]}:",
        "jwks_url": jwks_url,
        **TEST_VALUES,
        **overrides,
    }
    return settings_class(**values)


@dataclass
class ServersUnderTest:
    """The servers a service under test runs against, from the plugin's fixtures (the
    `servers_under_test` fixture): databases made on demand, Redis with the test's own key
    prefix, and the test token issuer's JWKS. Kafka is the test's choice (shared or isolated)."""

    create_database: DatabaseFactory
    redis_url: str
    redis_key_prefix: str
    jwks_url: str

    async def settings(
        self,
        settings_class: type[SettingsT],
        database: str,
        *,
        kafka_bootstrap_servers: str,
        **overrides: Any,
    ) -> SettingsT:
        """`settings_under_test` on a new database named after `database` and these servers."""
        return settings_under_test(
            settings_class,
            database_url=await self.create_database(database),
            kafka_bootstrap_servers=kafka_bootstrap_servers,
            redis_url=self.redis_url,
            redis_key_prefix=self.redis_key_prefix,
            jwks_url=self.jwks_url,
            **overrides,
        )


@asynccontextmanager
async def started_producer(bootstrap: str) -> AsyncIterator[EventProducer]:
    """A producer connected to `bootstrap`, stopped on exit."""
    producer = EventProducer(bootstrap)
    await producer.start()
    try:
        yield producer
    finally:
        await producer.stop()


@asynccontextmanager
async def serve_with_client(
    app: FastAPI, port: int | None = None
) -> AsyncIterator[httpx.AsyncClient]:
    """`app` served on a loopback port (`serve_app`, lifespan included) and a client of it."""
    async with serve_app(app, port) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield http


@dataclass
class RunningService(Generic[SettingsT, RuntimeT]):
    """A served service's app, a client of it and its settings; a service's tests add what
    they drive it with (a producer, a token issuer, its own requests)."""

    app: FastAPI
    http: httpx.AsyncClient
    settings: SettingsT

    @property
    def runtime(self) -> RuntimeT:
        runtime: RuntimeT = self.app.state.runtime
        return runtime

    @property
    def database(self) -> Database:
        return self.runtime.database

    @property
    def url(self) -> str:
        """The base URL the app is served on."""
        return str(self.http.base_url).rstrip("/")

    @property
    def bootstrap(self) -> str:
        return str(self.settings.kafka_bootstrap_servers)

    async def handled(self, envelope: Envelope, timeout: float = 10.0) -> None:
        """Wait (bounded) until the service's consumer has committed `envelope`."""
        await wait_handled(self.database, envelope, timeout)

    async def staged(self, subject: str) -> list[str]:
        """Types of the events the service wrote for `subject`, oldest first (sent or not)."""
        return await staged_types(self.database, subject)


@dataclass
class FedService(RunningService[SettingsT, RuntimeT]):
    """A running service that the test feeds with other services' events through `producer`."""

    producer: EventProducer

    async def feed(
        self,
        payload: EventPayload,
        *,
        subject: str | None = None,
        event_id: uuid.UUID | None = None,
    ) -> Envelope:
        """Put `payload` on its topic as its producing service's relay does: keyed by `subject`
        (by default the aggregate it is about) and correlated by it."""
        return await send(
            self.producer,
            payload,
            subject=subject,
            event_id=event_id,
            correlation_id=subject or subject_of(payload),
        )
