"""The whole suite started as `make run` starts it (tools.launched), once per test module, on
fresh PostgreSQL databases, the local Redis and the launcher's own embedded broker. Tests talk
to the gateway only; the databases are read only to check the invariants at the end."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from chassis.testing.infra import DatabaseFactory
from chassis.testing.polling import eventually
from tests.e2e.conftest import order_body
from tools.launched import LaunchedSuite, launched_suite

from .invariants import TERMINAL

DATABASES = (
    "catalog",
    "order",
    "inventory",
    "payment",
    "membership",
    "notification",
    "analytics",
)
RATE_PER_MEMBER_PER_MINUTE = 120  # low enough to hammer past, high enough for any one test
SUITE_ENV = {
    "GATEWAY_RATE_PER_MEMBER_PER_MINUTE": str(RATE_PER_MEMBER_PER_MINUTE),
    # Every request comes from 127.0.0.1: the per-client limit must not be what stops a test.
    "GATEWAY_RATE_PER_CLIENT_PER_MINUTE": "100000",
    # A consumer joining its group on the embedded broker waits about half a session: with
    # 1.5 s instead of 10 s each service's start-up is about 4 s shorter (measured).
    "KAFKA_SESSION_TIMEOUT_MS": "1500",
    # `make run` seeds some sixty demo products through the gateway (tens of seconds); these
    # tests make their own products with unique SKUs and need none of them.
    "SUITE_SEED_DEMO": "0",
}
PROBLEM = "application/problem+json"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


@dataclass
class Member:
    id: str
    email: str
    headers: dict[str, str]


@dataclass
class Storefront:
    """The launched suite seen from the outside: the gateway, plus its databases for checks."""

    http: httpx.AsyncClient
    suite: LaunchedSuite
    engines: dict[str, AsyncEngine]
    admin: dict[str, str] = field(default_factory=dict)
    orders: list[str] = field(default_factory=list)  # every order that got a 2xx

    @asynccontextmanager
    async def connect(self, service: str) -> AsyncIterator[AsyncConnection]:
        async with self.engines[service].connect() as conn:
            yield conn

    async def login(self, email: str, password: str) -> dict[str, str]:
        response = await self.http.post(
            "/api/v1/auth/login", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        tokens = response.json()
        assert tokens["token_type"] == "bearer"
        return bearer(tokens["access_token"])

    async def register(self, name: str = "Mei") -> Member:
        """A fresh member, logged in (fresh members keep each test under its own rate limit)."""
        email, password = f"{unique(name.lower())}@example.com", "a long storefront password"
        registered = await self.http.post(
            "/api/v1/auth/register",
            json={"email": email, "password": password, "name": name, "locale": "en"},
        )
        assert registered.status_code == 201, registered.text
        return Member(registered.json()["id"], email, await self.login(email, password))

    async def product(self, *, price: int = 1999, stock: int = 10, name: str = "Tea") -> str:
        """The admin creates, publishes and stocks a product with one new SKU; returns it."""
        _, sku = await self.product_and_sku(price=price, stock=stock, name=name)
        return sku

    async def product_and_sku(
        self, *, price: int = 1999, stock: int = 10, name: str = "Tea"
    ) -> tuple[str, str]:
        """As `product`, returning the product's id too (a storefront read names the product)."""
        sku = unique("SF").upper()
        body = {
            "name": f"{name} {sku}",
            "category": "storefront-e2e",
            "skus": [{"sku": sku, "price": {"amount": price, "currency": "CNY"}}],
        }
        created = await self.http.post("/api/v1/admin/products", json=body, headers=self.admin)
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]
        published = await self.http.post(
            f"/api/v1/admin/products/{product_id}/publish", headers=self.admin
        )
        assert published.status_code == 200, published.text
        stocked = await self.http.put(
            f"/api/v1/admin/inventory/{sku}", json={"on_hand": stock}, headers=self.admin
        )
        assert stocked.status_code in (200, 201), stocked.text
        return product_id, sku

    async def add_to_cart(self, member: Member, sku: str, quantity: int = 1) -> dict[str, Any]:
        """Put `sku` in the member's cart once the order service has heard of it."""

        async def put() -> httpx.Response:
            return await self.http.put(
                f"/api/v1/cart/items/{sku}", json={"quantity": quantity}, headers=member.headers
            )

        response = await eventually(put, lambda r: r.status_code == 200)
        assert response.status_code == 200, response.text
        cart: dict[str, Any] = response.json()
        return cart

    async def place(
        self,
        member: Member,
        sku: str,
        *,
        quantity: int = 1,
        payment_token: str = "tok_visa",
        idempotency_key: str | None = None,
        **extra: Any,
    ) -> httpx.Response:
        response = await self.http.post(
            "/api/v1/orders",
            json=order_body(sku, quantity, payment_token, **extra),
            headers={**member.headers, "Idempotency-Key": idempotency_key or unique("order")},
        )
        if response.status_code < 300 and response.json()["order_id"] not in self.orders:
            self.orders.append(response.json()["order_id"])
        return response

    async def place_accepted(self, member: Member, sku: str, **options: Any) -> str:
        """Place an order, expect 202 PENDING; returns its id."""
        placed = await self.place(member, sku, **options)
        assert placed.status_code == 202, placed.text
        assert placed.json()["status"] == "PENDING"
        order_id: str = placed.json()["order_id"]
        return order_id

    async def get_json(self, path: str, member: Member) -> dict[str, Any]:
        response = await self.http.get(path, headers=member.headers)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def settled(self, member: Member, order_id: str, *types: str) -> dict[str, Any]:
        """The order as its owner sees it once terminal with `types` in its timeline."""

        def done(order: dict[str, Any]) -> bool:
            seen = {entry["type"] for entry in order["timeline"]}
            return order["status"] in TERMINAL and seen.issuperset(types)

        return await eventually(lambda: self.get_json(f"/api/v1/orders/{order_id}", member), done)

    async def available(self, sku: str) -> int:
        """What the storefront shows as available (no token needed)."""
        response = await self.http.get(f"/api/v1/inventory/{sku}")
        assert response.status_code == 200, response.text
        count: int = response.json()["available"]
        return count

    async def until_available(self, sku: str, expected: int) -> int:
        return await eventually(lambda: self.available(sku), lambda n: n == expected)


@pytest.fixture(scope="module")
async def storefront(
    create_database: DatabaseFactory,
    redis_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> AsyncIterator[Storefront]:
    """One launched suite per test module (starting it takes half a minute)."""
    databases = {name: await create_database(name) for name in DATABASES}
    engines = {name: create_async_engine(url, pool_size=2) for name, url in databases.items()}
    data_dir = tmp_path_factory.mktemp("storefront")
    try:
        with launched_suite(
            data_dir, databases=databases, redis_url=redis_url, extra_env=SUITE_ENV
        ) as suite:
            async with httpx.AsyncClient(
                base_url=suite.gateway, timeout=15, trust_env=False
            ) as http:
                shop = Storefront(http=http, suite=suite, engines=engines)
                shop.admin = await shop.login(suite.admin_email, suite.admin_password)
                yield shop
    finally:
        for engine in engines.values():
            await engine.dispose()
