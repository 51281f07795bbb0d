"""Disposals: units of a lot out of sale (recalled or expired) destroyed or sent back leave the
lot for good, with a ledger row and `inventory.lot.disposed`; the SKU's stock does not move
(the units left it with the lot), a sellable lot or more units than the lot has free are
refused, and a retried disposal with its Idempotency-Key takes the units once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from inventory_service.service.lot_jobs import check_lots
from inventory_service.tables import MOVEMENTS

from .conftest import Inventory, inventory_events, new_order_id, sku, types_of
from .lot_support import (
    PROBLEM,
    age_lot,
    assert_invariants,
    confirm,
    lot_levels,
    place,
    receive_lot,
    stock_levels,
    today,
    yesterday,
)

pytestmark = pytest.mark.integration

DISPOSED = "inventory.lot.disposed"
REASON = "destroyed under the market regulator's supervision, certificate SH-2026-0412"


def disposals(code: str, lot: str) -> str:
    return f"/api/v1/admin/inventory/{code}/lots/{lot}/disposals"


async def dispose(
    inventory: Inventory, code: str, lot: str, quantity: int | None = None, **headers: str
) -> Any:
    body: dict[str, Any] = {"reason": REASON}
    if quantity is not None:
        body["quantity"] = quantity
    return await inventory.http.post(
        disposals(code, lot), json=body, headers={**inventory.admin, **headers}
    )


async def ledger_of(inventory: Inventory, code: str, kind: str) -> list[tuple[str, int, int]]:
    query = (
        sa.select(MOVEMENTS.c.lot, MOVEMENTS.c.delta_on_hand, MOVEMENTS.c.delta_reserved)
        .where(MOVEMENTS.c.sku == code, MOVEMENTS.c.kind == kind)
        .order_by(MOVEMENTS.c.id)
    )
    async with inventory.database.sessions() as session:
        rows = (await (await session.connection()).execute(query)).all()
    return [(str(lot), int(on_hand), int(reserved)) for lot, on_hand, reserved in rows]


async def test_a_recalled_lot_is_disposed_of_in_parts_and_its_report_counts_the_units(
    inventory: Inventory, kafka_bootstrap_servers: str
) -> None:
    tea, day = sku("tea"), today(inventory)
    await receive_lot(inventory, tea, "A1", 10, day + timedelta(days=10))
    await receive_lot(inventory, tea, "A2", 10, day + timedelta(days=20))
    committed = new_order_id()
    await place(inventory.runtime, committed, [(tea, 3)], "member-disposal")
    await confirm(inventory.runtime, committed)  # A1's 3 units left the shelf
    recall = await inventory.http.post(
        f"/api/v1/admin/inventory/{tea}/lots/A1/recall",
        json={"reason": "mould in the retained sample"},
        headers=inventory.admin,
    )
    assert recall.status_code == 201, recall.text
    # The committed order's units came back into quarantine and now come from A2.
    assert await lot_levels(inventory, tea) == {
        "A1": ("QUARANTINED", 10, 0),
        "A2": ("SELLABLE", 7, 0),
    }
    stock_before = await stock_levels(inventory, tea)

    first = await dispose(inventory, tea, "A1", 4)
    assert first.status_code == 201, first.text
    assert (first.json()["status"], first.json()["on_hand"], first.json()["disposed"]) == (
        "QUARANTINED",
        6,
        4,
    )
    rest = await dispose(inventory, tea, "A1")  # without a quantity: every free unit
    assert rest.status_code == 201, rest.text
    assert (rest.json()["on_hand"], rest.json()["disposed"], rest.json()["received"]) == (0, 10, 10)

    assert await stock_levels(inventory, tea) == stock_before  # the SKU's stock did not move
    assert await ledger_of(inventory, tea, "DISPOSE") == [("A1", -4, 0), ("A1", -6, 0)]
    report = (
        await inventory.http.get(
            f"/api/v1/admin/inventory/{tea}/lots/A1/recall", headers=inventory.admin
        )
    ).json()
    assert (report["units"]["quarantined"], report["units"]["disposed"]) == (0, 10)

    published = await inventory_events(
        kafka_bootstrap_servers, tea, until=lambda e: types_of(e).count(DISPOSED) >= 2
    )
    assert [
        (e.data["lot"], e.data["quantity"], e.data["disposed"], e.data["reason"])
        for e in published
        if e.type == DISPOSED
    ] == [("A1", 4, 4, REASON), ("A1", 6, 10, REASON)]

    nothing = await dispose(inventory, tea, "A1")
    assert (nothing.status_code, nothing.headers["content-type"]) == (409, PROBLEM)
    assert nothing.json()["type"].endswith("/nothing-to-dispose")
    await assert_invariants(inventory.database, [tea])


async def test_an_expired_lot_is_disposed_of_but_not_a_sellable_lot_nor_more_than_it_has(
    inventory: Inventory,
) -> None:
    milk, day = sku("milk"), today(inventory)
    await receive_lot(inventory, milk, "OLD", 5, day + timedelta(days=1))
    await receive_lot(inventory, milk, "NEW", 8, day + timedelta(days=9))

    sellable = await dispose(inventory, milk, "NEW", 1)
    assert (sellable.status_code, sellable.headers["content-type"]) == (409, PROBLEM)
    assert sellable.json()["type"].endswith("/lot-sellable")

    await age_lot(inventory.database, milk, "OLD", yesterday(inventory))
    await check_lots(inventory.runtime)  # the lot job withdraws it
    too_many = await dispose(inventory, milk, "OLD", 6)
    assert too_many.status_code == 409 and too_many.json()["type"].endswith("/not-enough-units")
    for lot, quantity in (("NOPE", 1), ("OLD", 0), ("OLD", -1)):
        refused = await dispose(inventory, milk, lot, quantity)
        assert refused.headers["content-type"] == PROBLEM
        assert refused.status_code == (404 if lot == "NOPE" else 422), refused.text
    assert (await dispose(inventory, sku("unknown"), "OLD", 1)).status_code == 404
    assert await lot_levels(inventory, milk) == {
        "OLD": ("EXPIRED", 5, 0),
        "NEW": ("SELLABLE", 8, 0),
    }

    done = await dispose(inventory, milk, "OLD", 5)
    assert (done.status_code, done.json()["on_hand"], done.json()["disposed"]) == (201, 0, 5)
    assert await stock_levels(inventory, milk) == (8, 0, 8)
    await assert_invariants(inventory.database, [milk])


async def test_a_retried_disposal_with_its_idempotency_key_takes_the_units_once(
    inventory: Inventory,
) -> None:
    tofu, day = sku("tofu"), today(inventory)
    await receive_lot(inventory, tofu, "T1", 6, day + timedelta(days=2))
    await age_lot(inventory.database, tofu, "T1", yesterday(inventory))
    await check_lots(inventory.runtime)
    key = new_order_id()
    first = await dispose(inventory, tofu, "T1", 2, **{"Idempotency-Key": key})
    again = await dispose(inventory, tofu, "T1", 2, **{"Idempotency-Key": key})
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    assert await lot_levels(inventory, tofu) == {"T1": ("EXPIRED", 4, 0)}
    assert await ledger_of(inventory, tofu, "DISPOSE") == [("T1", -2, 0)]
