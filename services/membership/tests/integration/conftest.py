"""A running membership service on real PostgreSQL, Redis and a broker of the test's own
(`isolated_kafka`), so no other test's consumer group or events meet it.

The service verifies tokens with the chassis `JwksVerifier` against its own JWKS URL, served
on the port chosen before the app starts.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from typing import Any

import jsonschema
import pytest

from chassis.testing.infra import DatabaseFactory, free_port
from chassis.testing.kafka import read_envelopes
from chassis.testing.orders import order_placed
from chassis.testing.service import (
    FedService,
    serve_with_client,
    settings_under_test,
    started_producer,
)
from chassis.testing.tokens import bearer
from membership_service.config import MembershipSettings
from membership_service.deps import MembershipRuntime
from membership_service.main import create_app
from shared_events import Envelope, EventPayload, registry
from shared_events.money import Money
from shared_events.schema_export import schema_path
from shared_events.topics import MEMBERSHIP_EVENTS

PASSWORD = "correct horse battery"
ADMIN_EMAIL = "root@example.com"
ADMIN_PASSWORD = "admin password for tests"

Starter = Callable[..., AbstractAsyncContextManager["Membership"]]


def cny(amount: int) -> Money:
    return Money(amount=amount, currency="CNY")


def assert_valid(envelope: Envelope) -> None:
    """Data matches the committed (published) JSON Schema of its type and version."""
    spec = registry.spec(envelope.type, envelope.dataversion)
    jsonschema.validate(envelope.data, json.loads(schema_path(spec).read_text()))


def new_order_id() -> str:
    return f"o-{uuid.uuid4()}"


@dataclass
class Membership(FedService[MembershipSettings, MembershipRuntime]):
    async def register(self, email: str | None = None, **body: Any) -> dict[str, Any]:
        response = await self.http.post(
            "/api/v1/auth/register",
            json={
                "email": email or f"m-{uuid.uuid4().hex[:10]}@example.com",
                "password": PASSWORD,
                "name": "Han Meimei",
                **body,
            },
        )
        assert response.status_code == 201, response.text
        member: dict[str, Any] = response.json()
        return member

    async def login(self, email: str, password: str = PASSWORD) -> dict[str, Any]:
        response = await self.http.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        tokens: dict[str, Any] = response.json()
        return tokens

    async def member_token(self) -> tuple[dict[str, Any], str]:
        member = await self.register()
        return member, (await self.login(member["email"]))["access_token"]

    async def admin_token(self) -> str:
        return str((await self.login(ADMIN_EMAIL, ADMIN_PASSWORD))["access_token"])

    async def me(self, token: str) -> dict[str, Any]:
        response = await self.http.get("/api/v1/me", headers=bearer(token))
        assert response.status_code == 200, response.text
        me: dict[str, Any] = response.json()
        return me

    async def send(
        self, payload: EventPayload, *, order_id: str, event_id: uuid.UUID | None = None
    ) -> Envelope:
        """Put an order event on `order.events` the way the order service's relay does."""
        return await self.feed(payload, subject=order_id, event_id=event_id)

    async def place(
        self,
        member_id: str,
        *,
        coupon: str | None = None,
        points: int = 0,
        subtotal: int = 20_000,
        order_id: str | None = None,
    ) -> tuple[str, Envelope]:
        order_id = order_id or new_order_id()
        placed = order_placed(
            order_id, member_id=member_id, subtotal=subtotal, coupon_code=coupon, points=points
        )
        return order_id, await self.send(placed, order_id=order_id)

    async def events(
        self, key: str, *, until: Callable[[list[Envelope]], bool], timeout: float = 10.0
    ) -> list[Envelope]:
        """The membership events published under `key`, read until `until` holds (bounded)."""
        return await read_envelopes(
            self.bootstrap, MEMBERSHIP_EVENTS, key=key, until=until, timeout=timeout
        )

    async def events_until(self, key: str, event_type: str, count: int = 1) -> list[Envelope]:
        """Every event under `key` up to the `count`-th of `event_type`."""
        found = await self.events(
            key, until=lambda got: [e.type for e in got].count(event_type) >= count
        )
        assert [e.type for e in found].count(event_type) >= count, [e.type for e in found]
        return found


@pytest.fixture
def start_membership(
    create_database: DatabaseFactory,
    isolated_kafka: str,
    redis_url: str,
    redis_key_prefix: str,
) -> Starter:
    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Membership]:
        port = free_port()
        values: dict[str, Any] = {
            "database_url": await create_database("membership"),
            "redis_url": redis_url,
            "redis_key_prefix": redis_key_prefix,
            "jwks_url": f"http://127.0.0.1:{port}/.well-known/jwks.json",
            "bootstrap_admin_email": ADMIN_EMAIL,
            "bootstrap_admin_password": ADMIN_PASSWORD,
            **overrides,
        }
        settings = settings_under_test(
            MembershipSettings,
            kafka_bootstrap_servers=isolated_kafka,
            **values,
        )
        app = create_app(settings)
        async with (
            started_producer(isolated_kafka) as producer,
            serve_with_client(app, port) as http,
        ):
            yield Membership(app, http, settings, producer)

    return start


@pytest.fixture
async def membership(start_membership: Starter) -> AsyncIterator[Membership]:
    async with start_membership() as running:
        yield running
