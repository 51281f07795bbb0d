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

import pytest
import sqlalchemy as sa

from chassis.consumer import Delivery
from chassis.db import Database
from chassis.outbox import Outbox
from chassis.producer import EventProducer
from chassis.testing import orders
from chassis.testing.events import envelope_of
from chassis.testing.infra import DatabaseFactory
from chassis.testing.kafka import read_envelopes
from chassis.testing.orders import order_confirmed, order_line
from chassis.testing.service import (
    RunningService,
    serve_with_client,
    settings_under_test,
    started_producer,
)
from chassis.testing.tokens import TestTokenIssuer, bearer
from inventory_service.config import InventorySettings
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.reservations import ReservationStatus
from inventory_service.main import create_app
from inventory_service.service.reservations import reserve_stock
from inventory_service.tables import LOTS, STOCK
from shared_events import Envelope
from shared_events.inventory import DEFAULT_LOT
from shared_events.order import OrderConfirmedV1, OrderPlacedV1
from shared_events.topics import INVENTORY_EVENTS

SettingsFactory = Callable[..., Any]


@dataclass
class Inventory(RunningService[InventorySettings, InventoryRuntime]):
    admin: dict[str, str]
    customer: dict[str, str]


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
            "jwks_url": token_issuer.jwks_url,  # type: ignore[attr-defined]
            **overrides,
        }
        return settings_under_test(
            InventorySettings,
            kafka_bootstrap_servers=kafka_bootstrap_servers,
            redis_url=redis_url,
            **values,
        )

    return make


@asynccontextmanager
async def running_inventory(
    settings: InventorySettings, token_issuer: TestTokenIssuer
) -> AsyncIterator[Inventory]:
    app = create_app(settings)
    async with serve_with_client(app) as http:
        admin, customer = bearer(token_issuer.admin_token()), bearer(token_issuer.token())
        yield Inventory(app, http, settings, admin, customer)


@pytest.fixture(scope="module")
async def inventory(
    inventory_settings: SettingsFactory, token_issuer: TestTokenIssuer
) -> AsyncIterator[Inventory]:
    async with running_inventory(await inventory_settings(), token_issuer) as running:
        yield running


@pytest.fixture(scope="session")
async def producer(kafka_bootstrap_servers: str) -> AsyncIterator[EventProducer]:
    """Puts events of other services (order, catalog) on their topics, as their relays do."""
    async with started_producer(kafka_bootstrap_servers) as started:
        yield started


def sku(label: str = "sku") -> str:
    return f"{label}-{uuid.uuid4().hex[:8]}"


def new_order_id() -> str:
    return str(uuid.uuid4())


def order_placed(order_id: str, lines: list[tuple[str, int]]) -> OrderPlacedV1:
    """The order of `lines` (sku, quantity) at 10.00 a unit."""
    items = [order_line(code, quantity) for code, quantity in lines]
    return orders.order_placed(order_id, items, member_id="member-1")


def confirmed(order_id: str) -> OrderConfirmedV1:
    return order_confirmed(order_id, total=1)


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
    return await read_envelopes(bootstrap, INVENTORY_EVENTS, key=key, until=until, timeout=timeout)


def types_of(envelopes: list[Envelope]) -> list[str]:
    return [e.type for e in envelopes]


def has(event_type: str) -> Callable[[list[Envelope]], bool]:
    return lambda envelopes: event_type in types_of(envelopes)
