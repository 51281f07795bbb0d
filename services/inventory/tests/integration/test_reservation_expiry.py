"""The expiry job releases reservations nobody confirmed in time (its own app: short TTL)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
from sqlmodel import select

from chassis.producer import EventProducer
from chassis.testing.events import send
from chassis.testing.orders import order_cancelled
from chassis.testing.tokens import TestTokenIssuer
from inventory_service.tables import ALLOCATIONS

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


async def stock_of(inventory: Inventory, code: str) -> tuple[int, int, int]:
    response = await inventory.http.get(f"/api/v1/admin/inventory/{code}", headers=inventory.admin)
    stock = response.json()
    return stock["on_hand"], stock["reserved"], stock["available"]


async def test_unconfirmed_reservations_expire_and_a_late_confirmation_takes_the_units_if_left(
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
    assert await stock_of(inventory, code) == (6, 0, 6)

    lows = (await inventory.staged(code)).count("inventory.stock.low")
    # Confirmed after the TTL (the confirmation was held up): the units are still there, so
    # they are reserved again and committed; the order service gets its commit.
    await inventory.handled(await send(producer, confirmed(orders[0])))
    committed = await inventory_events(
        kafka_bootstrap_servers, orders[0], until=has("inventory.stock.committed")
    )
    # v2, then v1 while its deprecation window lasts (INVENTORY_PUBLISH_COMMITTED_V1).
    assert set(types_of(committed)[2:]) == {"inventory.stock.committed"}
    assert committed[2].data["lines"][0]["quantity"] == 2
    assert await stock_of(inventory, code) == (4, 0, 4)
    # Reserved again under the name the order was placed with (recall notices show it), and
    # the SKU crossing its safety stock (5) on the way is announced.
    async with inventory.database.sessions() as session:
        names = (
            await session.exec(
                select(ALLOCATIONS.c.status, ALLOCATIONS.c.product_name).where(
                    ALLOCATIONS.c.order_id == orders[0]
                )
            )
        ).all()
    assert sorted(names) == [("COMMITTED", names[0][1]), ("RELEASED", names[0][1])]
    assert names[0][1] is not None
    assert (await inventory.staged(code)).count("inventory.stock.low") == lows + 1

    # Sold to others meanwhile (a stock take leaves one): nothing is committed, and the order
    # service is told the stock is short (it cancels the confirmed order, which refunds it).
    response = await inventory.http.put(
        f"/api/v1/admin/inventory/{code}", json={"on_hand": 1}, headers=inventory.admin
    )
    assert response.status_code == 200, response.text
    await inventory.handled(await send(producer, confirmed(orders[1])))
    rejected = await inventory_events(
        kafka_bootstrap_servers, orders[1], until=has("inventory.stock.rejected")
    )
    assert types_of(rejected) == [
        "inventory.stock.reserved",
        "inventory.stock.released",
        "inventory.stock.rejected",
    ]
    assert rejected[2].data["short"] == [{"sku": code, "requested": 2, "available": 1}]
    assert await stock_of(inventory, code) == (1, 0, 1)

    # The order's cancellation that follows, and a confirmation sent again once stock is back,
    # change nothing: the reservation was rejected.
    response = await inventory.http.put(
        f"/api/v1/admin/inventory/{code}", json={"on_hand": 6}, headers=inventory.admin
    )
    assert response.status_code == 200, response.text
    await inventory.handled(await send(producer, order_cancelled(orders[1], reason="OUT_OF_STOCK")))
    await inventory.handled(await send(producer, confirmed(orders[1])))
    assert await inventory.staged(orders[1]) == [
        "inventory.stock.reserved",
        "inventory.stock.released",
        "inventory.stock.rejected",
    ]
    assert await stock_of(inventory, code) == (6, 0, 6)
