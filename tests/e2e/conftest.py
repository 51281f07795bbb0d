"""The order-to-cash suite (catalog, inventory, payment, order) on real ports, PostgreSQL,
Redis and the broker, plus the invariants of tools/invariants.py."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from catalog_service.config import CatalogSettings
from catalog_service.main import create_app as create_catalog
from chassis.db import Database
from chassis.testing.infra import DatabaseFactory
from chassis.testing.serving import serve_app
from chassis.testing.tokens import TestTokenIssuer
from gateway_service.config import GatewaySettings
from gateway_service.main import create_app as create_gateway
from inventory_service.config import InventorySettings
from inventory_service.main import create_app as create_inventory
from membership_service.main import create_app as create_membership
from order_service.config import OrderSettings
from order_service.main import create_app as create_order
from payment_service.config import PaymentSettings
from payment_service.main import create_app as create_payment

from .storefront import invariants
from .storefront.invariants import TERMINAL

ADDRESS = {
    "name": "Han Meimei",
    "phone": "+86 139 0000 0000",
    "line1": "88 Nanjing Road",
    "city": "Shanghai",
    "postal_code": "200001",
    "country": "CN",
}


def order_body(
    sku: str, quantity: int = 1, token: str = "tok_visa", **extra: Any
) -> dict[str, Any]:
    """A `POST /api/v1/orders` body for one line, shipped to ADDRESS."""
    return {
        "items": [{"sku": sku, "quantity": quantity}],
        "currency": "CNY",
        "payment_token": token,
        "shipping_address": ADDRESS,
        **extra,
    }


@dataclass
class Suite:
    http: dict[str, httpx.AsyncClient]
    apps: dict[str, FastAPI]
    urls: dict[str, str]
    settings: dict[str, Any]
    issuer: TestTokenIssuer
    admin: dict[str, str]
    orders: list[str] = field(default_factory=list)  # every order that got a 2xx
    # Databases of services that run in a process of their own (crash tests).
    outside: dict[str, Database] = field(default_factory=dict)

    @property
    def bootstrap(self) -> str:
        return str(self.settings["order"].kafka_bootstrap_servers)

    def member(self, member_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.token(member_id or str(uuid.uuid4()))}"}

    def db(self, service: str) -> Database:
        if service in self.outside:
            return self.outside[service]
        database: Database = self.apps[service].state.runtime.database
        return database

    async def product(self, *, price: int = 1999, stock: int = 10, currency: str = "CNY") -> str:
        """A published product with one SKU and stock on hand; returns the SKU."""
        sku = f"E2E-{uuid.uuid4().hex[:10]}"
        body = {
            "name": f"Item {sku}",
            "category": "e2e",
            "skus": [{"sku": sku, "price": {"amount": price, "currency": currency}}],
        }
        catalog = self.http["catalog"]
        created = await catalog.post("/api/v1/admin/products", json=body, headers=self.admin)
        assert created.status_code == 201, created.text
        product_id = created.json()["id"]
        published = await catalog.post(
            f"/api/v1/admin/products/{product_id}/publish", headers=self.admin
        )
        assert published.status_code == 200, published.text
        received = await self.http["inventory"].put(
            f"/api/v1/admin/inventory/{sku}", json={"on_hand": stock}, headers=self.admin
        )
        assert received.status_code in (200, 201), received.text
        await self.until_for_sale(sku)
        return sku

    async def until_for_sale(self, sku: str) -> None:
        for _ in range(200):
            r = await self.http["order"].put(
                f"/api/v1/cart/items/{sku}", json={"quantity": 1}, headers=self.admin
            )
            if r.status_code == 200:
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"{sku} never reached the order service's read model")

    async def place(
        self, sku: str, *, quantity: int = 1, token: str = "tok_visa", member: dict[str, str]
    ) -> httpx.Response:
        response = await self.http["order"].post(
            "/api/v1/orders", json=order_body(sku, quantity, token), headers=member
        )
        if response.status_code < 300:
            self.orders.append(response.json()["order_id"])
        return response

    async def order(self, order_id: str) -> dict[str, Any]:
        response = await self.http["order"].get(f"/api/v1/orders/{order_id}", headers=self.admin)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    async def until(
        self, order_id: str, done: Callable[[dict[str, Any]], bool], timeout: float = 30
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            order = await self.order(order_id)
            if done(order) or loop.time() > deadline:
                return order
            await asyncio.sleep(0.1)

    async def settled(self, order_id: str, *types: str, timeout: float = 30) -> dict[str, Any]:
        """Wait for a terminal status and for `types` to appear in the timeline."""
        return await self.until(
            order_id,
            lambda o: (
                o["status"] in TERMINAL
                and all(t in [e["type"] for e in o["timeline"]] for t in types)
            ),
            timeout,
        )

    async def settle_all(
        self, order_ids: list[str], timeout: float = 120
    ) -> dict[str, tuple[str, str | None]]:
        """Many orders at once: one query per round instead of one request per order."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            async with self.db("order").engine.connect() as conn:
                states = await invariants.order_states(conn, order_ids)
            if all(s[0] in TERMINAL for s in states.values()) or loop.time() > deadline:
                return states
            await asyncio.sleep(0.25)

    async def stock(self, sku: str) -> dict[str, Any]:
        response = await self.http["inventory"].get(
            f"/api/v1/admin/inventory/{sku}", headers=self.admin
        )
        result: dict[str, Any] = response.json()
        return result

    async def scalar(self, service: str, sql: str, **params: Any) -> Any:
        async with self.db(service).engine.connect() as conn:
            return (await conn.execute(sa.text(sql), params)).scalar()

    async def effects(self, order_id: str) -> tuple[str, str | None, str | None]:
        order = await self.order(order_id)
        async with (
            self.db("inventory").engine.connect() as inventory,
            self.db("payment").engine.connect() as payment,
        ):
            reservation, money = await invariants.effects(inventory, payment, order_id)
        return order["status"], reservation, money

    async def until_effects(
        self, order_id: str, expected: tuple[str, str | None, str | None], timeout: float = 30
    ) -> tuple[str, str | None, str | None]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            found = await self.effects(order_id)
            if found == expected or loop.time() > deadline:
                return found
            await asyncio.sleep(0.1)

    async def until_consistent(self, order_id: str, timeout: float = 30) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            status, reservation, payment = await self.effects(order_id)
            if invariants.settled(status, reservation, payment):
                return
            if loop.time() > deadline:
                raise AssertionError(
                    f"order {order_id} is {status} but reservation={reservation} payment={payment}"
                )
            await asyncio.sleep(0.1)

    async def check_invariants(self) -> None:
        """The invariants (tools/invariants.py), checked against each service's own database."""
        # No lost order: every order that got a 2xx reached a terminal state.
        for order_id in self.orders:
            order = await self.until(order_id, lambda o: o["status"] in TERMINAL)
            assert order["status"] in TERMINAL, f"order {order_id} is stuck in {order['status']}"
        # No oversell: stock never negative, never more reserved than on hand.
        async with self.db("inventory").engine.connect() as conn:
            assert await invariants.violations("inventory", conn) == {}
        # Every step of every order is settled: confirmed orders hold committed stock and a
        # capture; every other outcome was compensated (stock released, money voided/refunded).
        for order_id in self.orders:
            await self.until_consistent(order_id)
        # Money balances.
        async with self.db("payment").engine.connect() as conn:
            assert await invariants.violations("payment", conn) == {}


@pytest.fixture
async def suite_settings(
    create_database: DatabaseFactory,
    isolated_kafka: str,
    redis_url: str,
    redis_key_prefix: str,
    token_issuer: TestTokenIssuer,
) -> dict[str, Any]:
    common: dict[str, Any] = {
        "kafka_bootstrap_servers": isolated_kafka,
        "redis_url": redis_url,
        "redis_key_prefix": redis_key_prefix,
        "jwks_url": token_issuer.jwks_url,  # type: ignore[attr-defined]
        "environment": "test",
        "outbox_poll_seconds": 0.05,
        "consumer_backoff_seconds": 0.05,
    }
    return {
        "catalog": CatalogSettings(database_url=await create_database("catalog"), **common),
        "inventory": InventorySettings(
            database_url=await create_database("inventory"), expiry_check_seconds=0.5, **common
        ),
        "payment": PaymentSettings(
            database_url=await create_database("payment"),
            risk_max_amount_cny=1_000_000,
            **common,
        ),
        "order": OrderSettings(
            database_url=await create_database("order"),
            saga_timeout_seconds=20,
            timeout_check_seconds=0.2,
            **common,
        ),
    }


FACTORIES: dict[str, Callable[[Any], FastAPI]] = {
    "catalog": create_catalog,
    "inventory": create_inventory,
    "payment": create_payment,
    "order": create_order,
    "membership": create_membership,
}


async def start_suite(
    stack: AsyncExitStack,
    settings: dict[str, Any],
    issuer: TestTokenIssuer,
    only: tuple[str, ...] = ("catalog", "inventory", "payment", "order"),
    ports: dict[str, int] | None = None,
) -> Suite:
    apps = {name: FACTORIES[name](settings[name]) for name in only}
    urls = {
        name: await stack.enter_async_context(serve_app(app, (ports or {}).get(name)))
        for name, app in apps.items()
    }
    http = {
        # Generous: the flash-sale test sends 200 orders at once, and a loaded CI machine can
        # take longer than 15 s to answer the last of them; these tests are not about latency.
        name: await stack.enter_async_context(httpx.AsyncClient(base_url=url, timeout=60))
        for name, url in urls.items()
    }
    return Suite(
        http=http,
        apps=apps,
        urls=urls,
        settings=settings,
        issuer=issuer,
        admin={"Authorization": f"Bearer {issuer.admin_token()}"},
    )


@pytest.fixture
async def suite(
    suite_settings: dict[str, Any], token_issuer: TestTokenIssuer
) -> AsyncIterator[Suite]:
    async with AsyncExitStack() as stack:
        yield await start_suite(stack, suite_settings, token_issuer)


def gateway_for(suite: Suite, **settings: Any) -> FastAPI:
    """The gateway in front of the suite's services, on the suite's broker, Redis and keys
    unless `settings` name others."""
    base = suite.settings["order"]
    shared = {
        "kafka_bootstrap_servers": base.kafka_bootstrap_servers,
        "redis_url": base.redis_url,
        "redis_key_prefix": base.redis_key_prefix,
        "jwks_url": base.jwks_url,
        "environment": "test",
    }
    upstreams = {f"{name}_url": url for name, url in suite.urls.items()}
    return create_gateway(GatewaySettings(**{**upstreams, **shared, **settings}))
