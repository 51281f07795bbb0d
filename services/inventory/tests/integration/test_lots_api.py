"""Receiving lots over HTTP: malformed bodies 422, an expired or mismatched lot 409, a SKU
stocked by lot refuses a stock take of its total; and migration 0002, which turned existing
stock and reservations into DEFAULT lots and allocations."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from chassis.db import Database
from chassis.migrations import upgrade, upgrade_async
from chassis.testing.infra import DatabaseFactory
from inventory_service.config import MIGRATIONS_DIR
from inventory_service.domain.stock import MAX_UNITS
from inventory_service.tables import ALLOCATIONS, LOTS, MOVEMENTS

from .conftest import Inventory, has, inventory_events, sku
from .lot_support import (
    PROBLEM,
    assert_invariants,
    lot_body,
    lot_levels,
    lots_of,
    receive_lot,
    stock_levels,
    today,
    yesterday,
)

pytestmark = pytest.mark.integration


async def post_lot(inventory: Inventory, code: str, body: dict[str, Any]) -> Any:
    return await inventory.http.post(
        f"/api/v1/admin/inventory/{code}/lots", json=body, headers=inventory.admin
    )


@pytest.mark.parametrize(
    "fields",
    [
        {"origin": {"country": "china", "producer": "X"}},
        {"origin": {"country": "CHN", "producer": "X"}},
        {"origin": {"country": "cn", "producer": "X"}},
        {"production_date": "2026-05-02", "expiry_date": "2026-05-01"},
        {"lot": "DEFAULT"},
        {"lot": "default"},
        {"lot": "bad lot/code"},
        {"storage_class": "WARM"},
        {"inspected_at": "2026-01-06T09:30:00"},  # no offset: which time zone?
        {"quantity": 0},
        {"quantity": "5"},
        {"colour": "red"},
    ],
)
async def test_malformed_lots_are_422_and_change_nothing(
    inventory: Inventory, fields: dict[str, Any]
) -> None:
    code = sku("tea")
    body = lot_body("L-1", 5, expiry_date=(today(inventory) + timedelta(days=9)).isoformat())
    response = await post_lot(inventory, code, {**body, **fields})
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    missing = await inventory.http.get(
        f"/api/v1/admin/inventory/{code}/lots", headers=inventory.admin
    )
    assert missing.status_code == 404  # nothing was created, not even the stock record


async def test_a_received_lot_is_published_as_received(
    inventory: Inventory, kafka_bootstrap_servers: str
) -> None:
    """`inventory.lot.received` repeats the receipt's body (not its inspection time)."""
    code = sku("lot-event")
    expiry = today(inventory) + timedelta(days=30)
    await receive_lot(inventory, code, "L-EVENT", 6, expiry)
    published = await inventory_events(
        kafka_bootstrap_servers, code, until=has("inventory.lot.received")
    )
    [received] = [e for e in published if e.type == "inventory.lot.received"]
    assert received.subject == code
    assert {k: v for k, v in received.data.items() if k != "received_at"} == {
        "sku": code,
        "lot": "L-EVENT",
        "quantity": 6,
        "origin": {"country": "CN", "region": "Fujian, Anxi", "producer": "Longjuan Tea Co-op"},
        "production_date": "2026-01-05",
        "expiry_date": expiry.isoformat(),
        "storage_class": "AMBIENT",
        "inspection_ref": "CIQ-L-EVENT",
    }
    assert datetime.fromisoformat(received.data["received_at"]).tzinfo is not None


async def test_expired_and_mismatched_lots_are_409(inventory: Inventory) -> None:
    code = sku("tea")
    expired = lot_body("OLD", 5, expiry_date=yesterday(inventory).isoformat())
    refused = await post_lot(inventory, code, expired)
    assert refused.status_code == 409 and refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"].endswith("/lot-expired")

    expiry = today(inventory) + timedelta(days=30)
    first = await receive_lot(inventory, code, "L-1", 5, expiry)
    assert (first["status"], first["on_hand"], first["received"]) == ("SELLABLE", 5, 5)
    again = await receive_lot(inventory, code, "L-1", 3, expiry)  # the same lot: it grows
    assert (again["on_hand"], again["received"]) == (8, 8)
    other = lot_body("L-1", 3, expiry_date=(expiry + timedelta(days=1)).isoformat())
    mismatch = await post_lot(inventory, code, other)
    assert mismatch.status_code == 409 and mismatch.json()["type"].endswith("/lot-mismatch")
    assert await stock_levels(inventory, code) == (8, 0, 8)

    unknown = await inventory.http.get(
        f"/api/v1/admin/inventory/{code}/lots/NOPE", headers=inventory.admin
    )
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM
    not_recalled = await inventory.http.get(
        f"/api/v1/admin/inventory/{code}/lots/L-1/recall", headers=inventory.admin
    )
    assert not_recalled.status_code == 404
    no_lot = await inventory.http.post(
        f"/api/v1/admin/inventory/{code}/lots/NOPE/recall",
        json={"reason": "test"},
        headers=inventory.admin,
    )
    assert no_lot.status_code == 404
    customer = await inventory.http.get(
        f"/api/v1/admin/inventory/{code}/lots", headers=inventory.customer
    )
    assert customer.status_code == 403


async def test_a_sku_stocked_by_lot_is_counted_and_adjusted_by_lot(inventory: Inventory) -> None:
    code, expiry = sku("tea"), today(inventory) + timedelta(days=30)
    await receive_lot(inventory, code, "L-1", 10, expiry)
    put = await inventory.http.put(
        f"/api/v1/admin/inventory/{code}", json={"on_hand": 3}, headers=inventory.admin
    )
    assert put.status_code == 409 and put.json()["type"].endswith("/stocked-by-lot")
    url = f"/api/v1/admin/inventory/{code}/adjustments"
    unnamed = await inventory.http.post(
        url, json={"delta": -1, "reason": "broken"}, headers=inventory.admin
    )
    assert unnamed.status_code == 409 and unnamed.json()["type"].endswith("/stocked-by-lot")
    wrong = await inventory.http.post(
        url, json={"delta": -1, "reason": "broken", "lot": "NOPE"}, headers=inventory.admin
    )
    assert wrong.status_code == 409 and wrong.json()["type"].endswith("/lot-cannot-change")

    named = await inventory.http.post(
        url, json={"delta": -2, "reason": "two jars broken", "lot": "L-1"}, headers=inventory.admin
    )

    assert named.status_code == 201, named.text
    assert await stock_levels(inventory, code) == (8, 0, 8)
    assert await lot_levels(inventory, code) == {"L-1": ("SELLABLE", 8, 0)}
    async with inventory.database.sessions() as session:
        ledger = (
            await session.exec(
                sa.select(MOVEMENTS.c.kind, MOVEMENTS.c.lot, MOVEMENTS.c.delta_on_hand)
                .where(MOVEMENTS.c.sku == code)
                .order_by(MOVEMENTS.c.id)
            )
        ).all()
    assert [tuple(row) for row in ledger] == [("RECEIVE", "L-1", 10), ("ADJUST", "L-1", -2)]
    await assert_invariants(inventory.database, [code])


async def test_stock_without_lots_lives_in_the_default_lot(inventory: Inventory) -> None:
    code = sku("cup")
    put = await inventory.http.put(
        f"/api/v1/admin/inventory/{code}", json={"on_hand": 7}, headers=inventory.admin
    )
    assert put.status_code == 201
    [lot] = await lots_of(inventory, code)
    assert (lot["lot"], lot["on_hand"], lot["expiry_date"], lot["origin"]) == (
        "DEFAULT",
        7,
        None,
        None,
    )
    adjusted = await inventory.http.post(
        f"/api/v1/admin/inventory/{code}/adjustments",
        json={"delta": 3, "reason": "found"},
        headers=inventory.admin,
    )
    assert adjusted.status_code == 201
    assert await lot_levels(inventory, code) == {"DEFAULT": ("SELLABLE", 10, 0)}
    await assert_invariants(inventory.database, [code])


async def test_a_sku_counted_up_and_down_again_keeps_counting_what_its_lot_received(
    inventory: Inventory,
) -> None:
    """Each stock take that finds more counts the difference as received into the implicit
    lot: three counts of a billion units up pass INTEGER's range (a fuzzer's find: the third
    count up, the fifth in all, was refused by the database)."""
    code = sku("bulk")
    for on_hand in (MAX_UNITS, 0, MAX_UNITS, 0, MAX_UNITS):
        put = await inventory.http.put(
            f"/api/v1/admin/inventory/{code}", json={"on_hand": on_hand}, headers=inventory.admin
        )
        assert put.status_code in (200, 201), put.text
    [lot] = await lots_of(inventory, code)
    assert (lot["on_hand"], lot["received"]) == (MAX_UNITS, 3 * MAX_UNITS)
    await assert_invariants(inventory.database, [code])


async def test_migration_0002_turns_stock_and_reservations_into_default_lots(
    create_database: DatabaseFactory,
) -> None:
    url = await create_database("inventory_lots_backfill")
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, url, "0001")
    at = datetime.now(UTC) - timedelta(hours=1)
    database = Database(url)
    try:
        async with database.transaction() as session:
            conn = await session.connection()
            for code, on_hand, reserved in (("A", 10, 3), ("B", 5, 0), ("C", 0, 0)):
                await conn.execute(
                    sa.text(
                        "INSERT INTO stock (sku, on_hand, reserved, safety_stock, updated_at)"
                        " VALUES (:sku, :on_hand, :reserved, 0, :at)"
                    ),
                    {"sku": code, "on_hand": on_hand, "reserved": reserved, "at": at},
                )
            reservations = {
                "held": ("RESERVED", '[{"sku": "A", "quantity": 2}]'),
                "held-2": ("RESERVED", '[{"sku": "A", "quantity": 1}]'),
                "done": ("COMMITTED", '[{"sku": "A", "quantity": 4}, {"sku": "B", "quantity": 1}]'),
                "gone": ("RELEASED", '[{"sku": "B", "quantity": 9}]'),
                "none": ("REJECTED", '[{"sku": "C", "quantity": 1}]'),
            }
            for order_id, (status, lines) in reservations.items():
                await conn.execute(
                    sa.text(
                        "INSERT INTO reservations (order_id, status, lines, expires_at,"
                        " created_at, updated_at) VALUES (:o, :s, CAST(:l AS JSON), :at, :at, :at)"
                    ),
                    {"o": order_id, "s": status, "l": lines, "at": at},
                )

        await upgrade_async(MIGRATIONS_DIR, url)

        async with database.sessions() as session:
            conn = await session.connection()
            lots = (
                await conn.execute(
                    sa.select(
                        LOTS.c.sku, LOTS.c.code, LOTS.c.status, LOTS.c.on_hand, LOTS.c.reserved
                    ).order_by(LOTS.c.sku)
                )
            ).all()
            allocations = (
                await conn.execute(
                    sa.select(
                        ALLOCATIONS.c.order_id,
                        ALLOCATIONS.c.sku,
                        ALLOCATIONS.c.lot,
                        ALLOCATIONS.c.quantity,
                        ALLOCATIONS.c.status,
                        ALLOCATIONS.c.committed_at.is_not(None),
                    ).order_by(ALLOCATIONS.c.order_id, ALLOCATIONS.c.sku)
                )
            ).all()
        assert [tuple(row) for row in lots] == [
            ("A", "DEFAULT", "SELLABLE", 10, 3),
            ("B", "DEFAULT", "SELLABLE", 5, 0),
            ("C", "DEFAULT", "SELLABLE", 0, 0),
        ]
        assert [tuple(row) for row in allocations] == [
            ("done", "A", "DEFAULT", 4, "COMMITTED", True),
            ("done", "B", "DEFAULT", 1, "COMMITTED", True),
            ("held", "A", "DEFAULT", 2, "HELD", False),
            ("held-2", "A", "DEFAULT", 1, "HELD", False),
        ]
        # Committed before lots existed: its units have no trace code.
        await assert_invariants(database, ["A", "B", "C"], untraced={"done"})
    finally:
        await database.dispose()
