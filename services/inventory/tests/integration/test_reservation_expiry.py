"""The expiry job releases reservations nobody confirmed in time (its own app: short TTL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from chassis.producer import EventProducer
from chassis.testing.events import send
from chassis.testing.tokens import TestTokenIssuer

from .conftest import (
    Inventory,
    SettingsFactory,
    confirmed,
    has,
    inventory_events,
    new_order_id,
    order_placed,
    running_inventory,
    sku,
    types_of,
)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def inventory(
    inventory_settings: SettingsFactory, token_issuer: TestTokenIssuer
) -> AsyncIterator[Inventory]:
    settings = await inventory_settings(reservation_ttl_seconds=0.5, expiry_check_seconds=0.1)
    async with running_inventory(settings, token_issuer) as running:
        yield running


async def test_unconfirmed_reservations_expire_and_late_confirmations_change_nothing(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    code, orders = sku("flash"), [new_order_id() for _ in range(3)]
    response = await inventory.http.put(
        f"/api/v1/admin/inventory/{code}", json={"on_hand": 6}, headers=inventory.admin
    )
    assert response.status_code == 201
    for order_id in orders:
        await send(producer, order_placed(order_id, [(code, 2)]), correlation_id=order_id)

    for order_id in orders:
        published = await inventory_events(
            kafka_bootstrap_servers, order_id, until=has("inventory.stock.released")
        )
        assert types_of(published) == ["inventory.stock.reserved", "inventory.stock.released"]
        assert published[1].data["reason"] == "EXPIRED"
        assert published[1].correlationid == order_id
    stock = (
        await inventory.http.get(f"/api/v1/admin/inventory/{code}", headers=inventory.admin)
    ).json()
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (6, 0, 6)

    await inventory.handled(await send(producer, confirmed(orders[0])))
    assert await inventory.staged(orders[0]) == [
        "inventory.stock.reserved",
        "inventory.stock.released",
    ]
