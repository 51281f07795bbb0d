"""The inventory service on real PostgreSQL, Redis and a Kafka-protocol broker.

Apps are module-scoped: each test uses its own SKUs and order ids. Two apps are never up at
once, because they would share the `inventory-orders` consumer group (and its partitions).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from aiokafka import ConsumerRecord
from fastapi import FastAPI
from sqlmodel import col, select

from chassis.consumer import Delivery
from chassis.db import Database
from chassis.inbox import InboxRecord
from chassis.outbox import Outbox, OutboxRecord
from chassis.producer import EventProducer
from chassis.testing.events import envelope_of
from chassis.testing.kafka import read_records
from chassis.testing.plugin import DatabaseFactory, serve_app
from chassis.testing.polling import eventually
from chassis.testing.tokens import TestTokenIssuer
from inventory_service.config import InventorySettings
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.reservations import ReservationStatus
from inventory_service.main import create_app
from inventory_service.service.reservations import reserve_stock
from inventory_service.tables import LOTS, STOCK
from shared_events import Envelope, from_kafka
from shared_events.inventory import DEFAULT_LOT
from shared_events.money import Money
from shared_events.order import OrderConfirmedV1, OrderLine, OrderPlacedV1
from shared_events.topics import INVENTORY_EVENTS

SettingsFactory = Callable[..., Any]


@dataclass
class Inventory:
    app: FastAPI
    http: httpx.AsyncClient
    settings: InventorySettings
    admin: dict[str, str]
    customer: dict[str, str]

    @property
    def runtime(self) -> InventoryRuntime:
        runtime: InventoryRuntime = self.app.state.runtime
        return runtime

    @property
    def database(self) -> Database:
        return self.runtime.database


@pytest.fixture(scope="session")
def inventory_settings(
    create_database: DatabaseFactory,
    kafka_bootstrap_servers: str,
    redis_url: str,
    token_issuer: TestTokenIssuer,
) -> SettingsFactory:
    async def make(**overrides: Any) -> InventorySettings:
        values: dict[str, Any] = {
            "database_url": await create_database("inventory"),
            "kafka_bootstrap_servers": kafka_bootstrap_servers,
            "redis_url": redis_url,
            "redis_key_prefix": f"test:{uuid.uuid4().hex[:8]}:",
            "jwks_url": token_issuer.jwks_url,  # type: ignore[attr-defined]
            "environment": "test",
            "outbox_poll_seconds": 0.05,
            "consumer_backoff_seconds": 0.05,
            **overrides,
        }
        return InventorySettings(**values)

    return make


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@asynccontextmanager
async def running_inventory(
    settings: InventorySettings, token_issuer: TestTokenIssuer
) -> AsyncIterator[Inventory]:
    app = create_app(settings)
    async with serve_app(app) as url, httpx.AsyncClient(base_url=url, timeout=10) as http:
        yield Inventory(
            app=app,
            http=http,
            settings=settings,
            admin=bearer(token_issuer.admin_token()),
            customer=bearer(token_issuer.token()),
        )


@pytest.fixture(scope="module")
async def inventory(
    inventory_settings: SettingsFactory, token_issuer: TestTokenIssuer
) -> AsyncIterator[Inventory]:
    async with running_inventory(await inventory_settings(), token_issuer) as running:
        yield running


@pytest.fixture(scope="session")
async def producer(kafka_bootstrap_servers: str) -> AsyncIterator[EventProducer]:
    """Puts events of other services (order, catalog) on their topics, as their relays do."""
    p = EventProducer(kafka_bootstrap_servers)
    await p.start()
    yield p
    await p.stop()


def sku(label: str = "sku") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def new_order_id() -> str:
    return str(uuid.uuid4())


def order_placed(order_id: str, lines: list[tuple[str, int]]) -> OrderPlacedV1:
    def cny(amount: int) -> Money:
        return Money(amount=amount, currency="CNY")

    items = [
        OrderLine(
            sku=code,
            product_id=f"p-{code}",
            name=f"Product {code}",
            quantity=quantity,
            unit_price=cny(1000),
            line_total=cny(1000 * quantity),
        )
        for code, quantity in lines
    ]
    total = cny(sum(item.line_total.amount for item in items))
    return OrderPlacedV1(
        order_id=order_id,
        member_id="member-1",
        currency="CNY",
        items=items,
        subtotal=total,
        discount=cny(0),
        total=total,
        placed_at=datetime.now(UTC),
    )


def confirmed(order_id: str) -> OrderConfirmedV1:
    return OrderConfirmedV1(order_id=order_id, member_id="m", total=Money(amount=1, currency="CNY"))


async def reserve_directly(
    database: Database, order_id: str, lines: list[tuple[str, int]], *, ttl_seconds: float = 900
) -> ReservationStatus | None:
    """The `order.order.placed` handler's service call, in its own transaction, no broker."""
    payload = order_placed(order_id, lines)
    async with database.transaction() as session:
        delivery = Delivery(session, envelope_of(payload), Outbox("/services/inventory"))
        today = payload.placed_at.date()
        return await reserve_stock(delivery, payload, ttl_seconds=ttl_seconds, today=today)


async def put_stock(database: Database, code: str, on_hand: int, safety_stock: int = 0) -> None:
    """A SKU with `on_hand` units in its implicit lot, written straight to the tables."""
    at = datetime.now(UTC)
    async with database.transaction() as session:
        await session.exec(
            sa.insert(STOCK).values(
                sku=code, on_hand=on_hand, reserved=0, safety_stock=safety_stock, updated_at=at
            )
        )
        await session.exec(
            sa.insert(LOTS).values(
                sku=code,
                code=DEFAULT_LOT,
                status="SELLABLE",
                on_hand=on_hand,
                reserved=0,
                received=on_hand,
                storage_class="AMBIENT",
                received_at=at,
                updated_at=at,
            )
        )


async def inventory_events(
    bootstrap: str,
    key: str,
    *,
    until: Callable[[list[Envelope]], bool],
    timeout: float = 10.0,
) -> list[Envelope]:
    """The events published under one key (order id or SKU), read until `until` holds."""

    def parsed(kept: list[ConsumerRecord[bytes, bytes]]) -> list[Envelope]:
        return [from_kafka(r.value, r.headers) for r in kept]

    records = await read_records(
        bootstrap,
        INVENTORY_EVENTS,
        match=lambda r: r.key == key.encode(),
        until=lambda kept: until(parsed(kept)),
        timeout=timeout,
    )
    return parsed(records)


def types_of(envelopes: list[Envelope]) -> list[str]:
    return [e.type for e in envelopes]


def has(event_type: str) -> Callable[[list[Envelope]], bool]:
    return lambda envelopes: event_type in types_of(envelopes)


async def handled(inventory: Inventory, envelope: Envelope, timeout: float = 10.0) -> None:
    """Wait until the service's consumer has committed `envelope` (its inbox row exists).
    Events of one key are handled in order, so every earlier one was handled too."""
    query = select(InboxRecord.event_id).where(InboxRecord.event_id == envelope.id)

    async def claimed() -> bool:
        async with inventory.database.sessions() as session:
            return (await session.exec(query)).first() is not None

    done = await eventually(claimed, bool, timeout=timeout, every=0.05)
    assert done, f"{envelope.type} {envelope.id} was not handled in {timeout}s"


async def staged(inventory: Inventory, subject: str) -> list[str]:
    """Types of the events the service wrote for `subject`, oldest first (sent or not)."""
    query = (
        select(OutboxRecord.event_type)
        .where(OutboxRecord.subject == subject)
        .order_by(col(OutboxRecord.id))
    )
    async with inventory.database.sessions() as session:
        return list((await session.exec(query)).all())
