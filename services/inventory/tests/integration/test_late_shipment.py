"""An order that shipped in the moment a recall settled it as unshipped: inventory released its
units and asked for a cancellation the order service ignores (the order has shipped). When
`order.order.shipped` arrives, the units are put back out of the lots, the reservation is
committed again, and the member is told about the recall like every member who received it."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from inventory_service.tables import MOVEMENTS

from .conftest import Inventory, new_order_id, sku
from .lot_support import (
    allocations_of,
    assert_invariants,
    confirm,
    lot_levels,
    place,
    receive_lot,
    reservation_status,
    ship,
    stock_levels,
    today,
)

pytestmark = pytest.mark.integration

AFFECTED = "inventory.recall.customer_affected"


async def shipped_movements(inventory: Inventory, order_id: str) -> list[tuple[str, str, int]]:
    """(sku, lot, units) of the ledger's rows for units a late shipment took out of a lot."""
    query = sa.select(MOVEMENTS.c.sku, MOVEMENTS.c.lot, MOVEMENTS.c.delta_on_hand).where(
        MOVEMENTS.c.order_id == order_id, MOVEMENTS.c.reason == "SHIPPED"
    )
    async with inventory.database.sessions() as session:
        return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[misc]


async def test_a_shipment_the_recall_missed_is_put_back_out_and_its_member_told(
    inventory: Inventory,
) -> None:
    honey, cups, runtime = sku("honey"), sku("cups"), inventory.runtime
    await receive_lot(inventory, honey, "H1", 5, today(inventory) + timedelta(days=200))
    put = await inventory.http.put(
        f"/api/v1/admin/inventory/{cups}", json={"on_hand": 10}, headers=inventory.admin
    )
    assert put.status_code == 201
    order_id = new_order_id()
    await place(runtime, order_id, [(honey, 2), (cups, 1)], "member-7")
    await confirm(runtime, order_id)

    # The order ships now; inventory reads the shipment only after the recall has run.
    recalled = await inventory.http.post(
        f"/api/v1/admin/inventory/{honey}/lots/H1/recall",
        json={"reason": "botulinum spores found in a retained jar"},
        headers=inventory.admin,
    )
    assert recalled.status_code == 201, recalled.text
    assert recalled.json()["orders"]["cancelled"] == [order_id]
    assert await reservation_status(inventory.database, order_id) == "RELEASED"
    assert await stock_levels(inventory, cups) == (10, 0, 10)  # released, wrongly, for now
    assert await lot_levels(inventory, honey) == {"H1": ("QUARANTINED", 5, 0)}

    await ship(runtime, order_id, "member-7")
    await ship(runtime, order_id, "member-7")  # the same fact again changes nothing

    assert await reservation_status(inventory.database, order_id) == "COMMITTED"
    assert await stock_levels(inventory, cups) == (9, 0, 9)
    assert sorted(await shipped_movements(inventory, order_id)) == sorted(
        [(honey, "H1", -2), (cups, "DEFAULT", -1)]
    )
    assert await lot_levels(inventory, honey) == {"H1": ("QUARANTINED", 3, 0)}
    assert {status for *_, status in await allocations_of(inventory.database, order_id)} == {
        "COMMITTED"
    }
    assert (await inventory.staged(order_id)).count(AFFECTED) == 1
    report = (
        await inventory.http.get(
            f"/api/v1/admin/inventory/{honey}/lots/H1/recall", headers=inventory.admin
        )
    ).json()
    assert report["orders"]["notified"] == [order_id]
    assert (report["units"]["sold"], report["units"]["quarantined"]) == (2, 3)
    await assert_invariants(inventory.database, [honey, cups])


async def test_a_shipment_the_recall_missed_after_the_lot_was_disposed_of_is_counted_not_refused(
    inventory: Inventory,
) -> None:
    # The recall put the order's units back into quarantine, and an admin disposed of every
    # unit there before the shipment was read: two of them had in fact shipped. The shipment
    # still applies (never a lot below zero, never a dead letter); the two units are logged for
    # a stock take.
    jam, runtime = sku("jam"), inventory.runtime
    await receive_lot(inventory, jam, "J1", 5, today(inventory) + timedelta(days=200))
    order_id = new_order_id()
    await place(runtime, order_id, [(jam, 2)], "member-8")
    await confirm(runtime, order_id)
    recalled = await inventory.http.post(
        f"/api/v1/admin/inventory/{jam}/lots/J1/recall",
        json={"reason": "glass fragments in a retained jar"},
        headers=inventory.admin,
    )
    assert recalled.status_code == 201, recalled.text
    disposed = await inventory.http.post(
        f"/api/v1/admin/inventory/{jam}/lots/J1/disposals",
        json={"reason": "destroyed"},
        headers=inventory.admin,
    )
    assert (disposed.status_code, disposed.json()["disposed"]) == (201, 5), disposed.text

    await ship(runtime, order_id, "member-8")

    assert await reservation_status(inventory.database, order_id) == "COMMITTED"
    assert await lot_levels(inventory, jam) == {"J1": ("QUARANTINED", 0, 0)}
    assert {status for *_, status in await allocations_of(inventory.database, order_id)} == {
        "COMMITTED"
    }
    assert (await inventory.staged(order_id)).count(AFFECTED) == 1
    # Nothing was taken out of the lot, so the ledger says so: no SHIPPED movement.
    assert await shipped_movements(inventory, order_id) == []
    await assert_invariants(inventory.database, [jam])
