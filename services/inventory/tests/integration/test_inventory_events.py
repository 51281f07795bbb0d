"""Inventory driven by real events: catalog and order events put on their topics, inventory
events read back from `inventory.events`."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest
from sqlmodel import select

from chassis.producer import EventProducer
from chassis.testing.events import send
from chassis.testing.polling import eventually
from inventory_service.tables import MOVEMENTS, RESERVATIONS
from shared_events import Envelope, registry
from shared_events.catalog import ProductCreatedV1, SkuSnapshot
from shared_events.money import Money
from shared_events.order import OrderCancelledV1, OrderRejectedV1
from shared_events.schema_export import schema_path

from .conftest import (
    Inventory,
    confirmed,
    has,
    inventory_events,
    new_order_id,
    order_placed,
    sku,
    types_of,
)

pytestmark = pytest.mark.integration

RESERVED, REJECTED = "inventory.stock.reserved", "inventory.stock.rejected"
COMMITTED, RELEASED = "inventory.stock.committed", "inventory.stock.released"


async def stock(inventory: Inventory, code: str) -> dict[str, Any]:
    response = await inventory.http.get(f"/api/v1/admin/inventory/{code}", headers=inventory.admin)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def receive(inventory: Inventory, code: str, on_hand: int) -> None:
    response = await inventory.http.put(
        f"/api/v1/admin/inventory/{code}", json={"on_hand": on_hand}, headers=inventory.admin
    )
    assert response.status_code in (200, 201), response.text


async def levels(inventory: Inventory, code: str) -> tuple[int, int, int]:
    body = await stock(inventory, code)
    return body["on_hand"], body["reserved"], body["available"]


async def place(producer: EventProducer, order_id: str, lines: list[tuple[str, int]]) -> Envelope:
    return await send(producer, order_placed(order_id, lines), correlation_id=order_id)


def valid(envelope: Envelope) -> Envelope:
    """The event matches its committed (published) JSON Schema."""
    spec = registry.spec(envelope.type, envelope.dataversion)
    schema = json.loads(schema_path(spec).read_text())
    jsonschema.validate(envelope.data, schema)
    return envelope


async def test_a_new_product_gets_stock_records_and_known_skus_are_left_alone(
    inventory: Inventory, producer: EventProducer
) -> None:
    received_first, new = sku("tea"), sku("tea")
    await receive(inventory, received_first, 7)  # an admin was faster than the catalog event
    product = ProductCreatedV1(
        product_id="product-1",
        name="Jasmine tea",
        category="tea",
        skus=[
            SkuSnapshot(sku=code, price=Money(amount=6800, currency="CNY"))
            for code in (received_first, new)
        ],
        status="DRAFT",
        version=1,
    )
    first = await send(producer, product)
    await send(producer, product, event_id=first.id)  # the same event delivered twice

    url = f"/api/v1/inventory/{new}"
    await eventually(lambda: inventory.http.get(url), lambda r: r.status_code == 200, timeout=10)
    assert await levels(inventory, new) == (0, 0, 0)
    assert (await stock(inventory, new))["safety_stock"] == inventory.settings.default_safety_stock
    assert await levels(inventory, received_first) == (7, 0, 7)


async def test_reserved_then_committed(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    a, b, order_id = sku("a"), sku("b"), new_order_id()
    await receive(inventory, a, 10)
    await receive(inventory, b, 10)
    placed = await place(producer, order_id, [(b, 1), (a, 2), (b, 3)])  # b twice: 4 in all

    reserved = await inventory_events(kafka_bootstrap_servers, order_id, until=has(RESERVED))
    assert types_of(reserved) == [RESERVED]
    event = valid(reserved[0])
    assert event.data["lines"] == [{"sku": a, "quantity": 2}, {"sku": b, "quantity": 4}]
    assert event.causationid == str(placed.id) and event.correlationid == order_id
    assert await levels(inventory, a) == (10, 2, 8)
    assert await levels(inventory, b) == (10, 4, 6)

    await send(producer, confirmed(order_id))

    def both_versions(envelopes: list[Envelope]) -> bool:
        return types_of(envelopes).count(COMMITTED) == 2

    published = await inventory_events(kafka_bootstrap_servers, order_id, until=both_versions)
    assert types_of(published) == [RESERVED, COMMITTED, COMMITTED]
    # The deprecation window: v2 (which lots, which trace codes) and its v1 twin.
    v2, v1 = valid(published[1]), valid(published[2])
    assert (v2.dataversion, v1.dataversion) == (2, 1)
    assert v2.dataversions == v1.dataversions == (1, 2)
    assert v1.data["lines"] == event.data["lines"]
    assert [(line["sku"], line["quantity"]) for line in v2.data["lines"]] == [(a, 2), (b, 4)]
    for line in v2.data["lines"]:
        [allocation] = line["allocations"]  # stock received without lots: the implicit lot
        assert (allocation["lot"], allocation["quantity"]) == ("DEFAULT", line["quantity"])
        assert len(allocation["trace_code"]) == 16
    assert await levels(inventory, a) == (8, 0, 8)
    assert await levels(inventory, b) == (6, 0, 6)


async def test_reserved_then_released_when_the_order_is_rejected(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    code, order_id = sku(), new_order_id()
    await receive(inventory, code, 5)
    await place(producer, order_id, [(code, 5)])
    rejected = OrderRejectedV1(order_id=order_id, member_id="m", reason="PAYMENT_DECLINED")
    await send(producer, rejected)

    published = await inventory_events(kafka_bootstrap_servers, order_id, until=has(RELEASED))
    assert types_of(published) == [RESERVED, RELEASED]
    assert valid(published[1]).data == {
        "order_id": order_id,
        "lines": [{"sku": code, "quantity": 5}],
        "reason": "ORDER_REJECTED",
    }
    assert await levels(inventory, code) == (5, 0, 5)


def cancelled(order_id: str) -> OrderCancelledV1:
    return OrderCancelledV1(
        order_id=order_id, member_id="m", reason="CANCELLED_BY_CUSTOMER", was_confirmed=True
    )


async def test_cancelled_after_confirmation_puts_the_units_back(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    code, order_id = sku(), new_order_id()
    await receive(inventory, code, 5)
    await place(producer, order_id, [(code, 2)])
    # Redelivered and repeated outcomes change nothing; nor can the order reserve again.
    await send(producer, confirmed(order_id))
    cancel = await send(producer, cancelled(order_id))
    await send(producer, cancelled(order_id), event_id=cancel.id)  # redelivered
    await send(producer, cancelled(order_id))  # the same fact in a new event
    await send(producer, confirmed(order_id))
    last = await place(producer, order_id, [(code, 2)])

    await inventory.handled(last)
    # The commit is staged twice: v2 and its v1 twin (the deprecation window).
    assert await inventory.staged(order_id) == [RESERVED, COMMITTED, COMMITTED, RELEASED]
    published = await inventory_events(kafka_bootstrap_servers, order_id, until=has(RELEASED))
    assert types_of(published) == [RESERVED, COMMITTED, COMMITTED, RELEASED]
    assert valid(published[3]).data["reason"] == "ORDER_CANCELLED"
    assert await levels(inventory, code) == (5, 0, 5)
    async with inventory.database.sessions() as session:
        ledger = (
            await session.exec(
                select(MOVEMENTS.c.kind, MOVEMENTS.c.delta_on_hand, MOVEMENTS.c.delta_reserved)
                .where(MOVEMENTS.c.order_id == order_id)
                .order_by(MOVEMENTS.c.id)
            )
        ).all()
    assert [tuple(row) for row in ledger] == [
        ("RESERVE", 0, 2),
        ("COMMIT", -2, -2),
        ("RELEASE", 2, 0),
    ]


async def test_cancelled_before_confirmation_releases(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    code, order_id = sku(), new_order_id()
    await receive(inventory, code, 5)
    await place(producer, order_id, [(code, 4)])
    await send(producer, cancelled(order_id))
    published = await inventory_events(kafka_bootstrap_servers, order_id, until=has(RELEASED))
    assert types_of(published) == [RESERVED, RELEASED]
    assert published[1].data["reason"] == "ORDER_CANCELLED"
    assert await levels(inventory, code) == (5, 0, 5)


async def test_an_order_cancelled_before_its_placed_event_arrives_reserves_nothing(
    inventory: Inventory, producer: EventProducer
) -> None:
    # The order service's relay sent `placed` late (a replica died between commit and send)
    # while another replica had already decided the order.
    code, order_id = sku(), new_order_id()
    await receive(inventory, code, 5)
    cancel = OrderCancelledV1(
        order_id=order_id, member_id="m", reason="CANCELLED_BY_CUSTOMER", was_confirmed=False
    )
    await inventory.handled(await send(producer, cancel))
    await inventory.handled(await place(producer, order_id, [(code, 4)]))

    assert await levels(inventory, code) == (5, 0, 5)  # not held until the reservation's TTL
    assert await inventory.staged(order_id) == []  # nobody waits for an answer
    async with inventory.database.sessions() as session:
        status, reason = (
            await session.exec(
                select(RESERVATIONS.c.status, RESERVATIONS.c.reason).where(
                    RESERVATIONS.c.order_id == order_id
                )
            )
        ).one()
    assert (status, reason) == ("RELEASED", "ORDER_CANCELLED")


async def test_a_short_line_rejects_the_whole_order(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    plenty, scarce, unknown, order_id = sku("plenty"), sku("scarce"), sku("nope"), new_order_id()
    await receive(inventory, plenty, 50)
    await receive(inventory, scarce, 2)
    await place(producer, order_id, [(plenty, 5), (scarce, 3), (unknown, 1)])

    published = await inventory_events(kafka_bootstrap_servers, order_id, until=has(REJECTED))
    assert types_of(published) == [REJECTED]
    short = valid(published[0]).data["short"]
    assert sorted(short, key=lambda s: s["sku"]) == sorted(
        [
            {"sku": scarce, "requested": 3, "available": 2},
            {"sku": unknown, "requested": 1, "available": 0},
        ],
        key=lambda s: s["sku"],
    )
    assert await levels(inventory, plenty) == (50, 0, 50)
    assert await levels(inventory, scarce) == (2, 0, 2)

    # The order service answers with `rejected`: there is nothing to release.
    answer = OrderRejectedV1(order_id=order_id, member_id="m", reason="OUT_OF_STOCK")
    await inventory.handled(await send(producer, answer))
    assert await inventory.staged(order_id) == [REJECTED]
    async with inventory.database.sessions() as session:
        status = (
            await session.exec(
                select(RESERVATIONS.c.status).where(RESERVATIONS.c.order_id == order_id)
            )
        ).one()
    assert status == "REJECTED"


async def test_duplicate_deliveries_reserve_once(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    code, order_id = sku(), new_order_id()
    await receive(inventory, code, 10)
    placed = order_placed(order_id, [(code, 3)])
    first = await send(producer, placed, correlation_id=order_id)
    # The same event again (a relay that crashed before marking it sent).
    await send(producer, placed, event_id=first.id, correlation_id=order_id)
    await place(producer, order_id, [(code, 3)])  # the same order under a new event id
    done = await place(producer, order_id, [(code, 3)])

    await inventory.handled(done)
    assert await inventory.staged(order_id) == [RESERVED]
    assert await levels(inventory, code) == (10, 3, 7)
    published = await inventory_events(kafka_bootstrap_servers, order_id, until=has(RESERVED))
    assert types_of(published) == [RESERVED]
