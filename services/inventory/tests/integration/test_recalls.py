"""Recalls: a lot held by a reserved order, a confirmed order not shipped yet and a shipped
order. The lot is quarantined at once, the unshipped orders get other lots or are released
(and must be cancelled), the member who received it is told once, and the report counts every
unit. Then a recall in the middle of a load of orders: no unit of the recalled lot is
committed after the recall, and the stock invariants hold."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from chassis.producer import EventProducer
from inventory_service.service.lot_jobs import check_lots
from inventory_service.service.recalls import finish_recall
from inventory_service.tables import ALLOCATIONS, LOTS, RESERVATIONS
from shared_events import Envelope

from .conftest import Inventory, inventory_events, new_order_id, sku, types_of
from .lot_support import (
    PROBLEM,
    allocations_of,
    assert_invariants,
    confirm,
    deliver,
    give_back,
    lot_levels,
    place,
    receive_lot,
    ship,
    stock_levels,
    today,
)

pytestmark = pytest.mark.integration

RESERVED, COMMITTED = "inventory.stock.reserved", "inventory.stock.committed"
RELEASED, REALLOCATED = "inventory.stock.released", "inventory.stock.reallocated"
WITHDRAWN, AFFECTED = "inventory.stock.withdrawn", "inventory.recall.customer_affected"
RECALLED = "inventory.lot.recalled"
REASON = "aflatoxin B1 above the limit in the producer's retained sample"


async def recall(inventory: Inventory, code: str, lot: str) -> Any:
    return await inventory.http.post(
        f"/api/v1/admin/inventory/{code}/lots/{lot}/recall",
        json={"reason": REASON},
        headers=inventory.admin,
    )


async def events_of(bootstrap: str, order_id: str, count: int) -> list[Envelope]:
    return await inventory_events(bootstrap, order_id, until=lambda e: len(e) >= count)


async def committed_codes(inventory: Inventory, order_id: str) -> list[str]:
    query = sa.select(ALLOCATIONS.c.trace_code).where(
        ALLOCATIONS.c.order_id == order_id, ALLOCATIONS.c.status == "COMMITTED"
    )
    async with inventory.database.sessions() as session:
        return [str(code) for code in (await session.exec(query)).scalars()]


async def test_a_recall_reallocates_releases_and_notifies_then_reports(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    dates, day, runtime = sku("dates"), today(inventory), inventory.runtime
    await receive_lot(inventory, dates, "A1", 10, day + timedelta(days=10))
    await receive_lot(inventory, dates, "A2", 10, day + timedelta(days=20))
    shipped, committed, held = new_order_id(), new_order_id(), new_order_id()
    for order_id, units in ((shipped, 1), (committed, 3), (held, 2)):
        await place(runtime, order_id, [(dates, units)], f"member-{order_id[:8]}")
    await confirm(runtime, shipped)
    await confirm(runtime, committed)
    await ship(runtime, shipped, f"member-{shipped[:8]}")
    [shipped_code] = await committed_codes(inventory, shipped)
    [old_code] = await committed_codes(inventory, committed)
    assert await stock_levels(inventory, dates) == (16, 2, 14)

    response = await recall(inventory, dates, "A1")

    assert response.status_code == 201, response.text
    report = response.json()
    # At once: A1 is out of sale; what was taken from it now comes from A2.
    assert await lot_levels(inventory, dates) == {
        "A1": ("QUARANTINED", 9, 0),  # 6 on the shelf + the 3 committed units not shipped
        "A2": ("SELLABLE", 7, 2),
    }
    assert await stock_levels(inventory, dates) == (7, 2, 5)
    assert report["units"] == {
        "received": 10,
        "sold": 1,
        "quarantined": 9,
        "disposed": 0,
        "reallocated": 5,
        "cancelled": 0,
        "returned": 0,
    }
    assert report["orders"] == {
        "reallocated": sorted([committed, held]),
        "cancelled": [],
        "notified": [shipped],
    }
    assert (report["notified_members"], report["finished"], report["reason"]) == (1, True, REASON)

    held_events = await events_of(kafka_bootstrap_servers, held, 2)
    assert types_of(held_events) == [RESERVED, REALLOCATED]
    assert held_events[1].data["allocations"] == [{"lot": "A2", "quantity": 2, "trace_code": None}]
    assert (held_events[1].data["from_lot"], held_events[1].data["reason"]) == ("A1", "RECALLED")
    committed_events = await events_of(kafka_bootstrap_servers, committed, 4)
    assert types_of(committed_events) == [RESERVED, COMMITTED, COMMITTED, REALLOCATED]
    [moved] = committed_events[3].data["allocations"]
    assert (moved["lot"], moved["quantity"]) == ("A2", 3)
    assert len(moved["trace_code"]) == 16 and moved["trace_code"] != old_code
    assert await committed_codes(inventory, committed) == [moved["trace_code"]]
    shipped_events = await events_of(kafka_bootstrap_servers, shipped, 4)
    assert types_of(shipped_events) == [RESERVED, COMMITTED, COMMITTED, AFFECTED]
    notice = shipped_events[3].data
    assert (notice["member_id"], notice["lot"], notice["quantity"]) == (
        f"member-{shipped[:8]}",
        "A1",
        1,
    )
    assert (notice["trace_codes"], notice["reason"]) == ([shipped_code], REASON)
    by_sku = await inventory_events(
        kafka_bootstrap_servers, dates, until=lambda e: RECALLED in types_of(e)
    )
    [lot_recalled] = [e for e in by_sku if e.type == RECALLED]
    # Quarantined at once: the 6 units on the shelf, 2 of them held by an order.
    assert (lot_recalled.data["lot"], lot_recalled.data["quarantined"]) == ("A1", 6)

    # Again: refused; the job resuming the recall tells nobody twice.
    again = await recall(inventory, dates, "A1")
    assert again.status_code == 409 and again.headers["content-type"] == PROBLEM
    assert again.json()["type"].endswith("/already-recalled")
    await finish_recall(runtime, report["recall_id"])
    await check_lots(runtime)
    assert (await inventory.staged(shipped)).count(AFFECTED) == 1
    read = await inventory.http.get(
        f"/api/v1/admin/inventory/{dates}/lots/A1/recall", headers=inventory.admin
    )
    assert read.status_code == 200 and read.json() == report

    # The member's trace says recalled; the units come back into the quarantined lot.
    trace = (await inventory.http.get(f"/api/v1/trace/{shipped_code}")).json()
    assert trace["recalled"] is True and trace["lot"]["status"] == "QUARANTINED"
    assert trace["custody"][-1] == {
        "step": "RECALLED",
        "at": trace["custody"][-1]["at"],
        "detail": REASON,
    }
    await deliver(runtime, shipped, f"member-{shipped[:8]}")
    await give_back(runtime, shipped, f"member-{shipped[:8]}")
    assert (await lot_levels(inventory, dates))["A1"] == ("QUARANTINED", 10, 0)
    assert await stock_levels(inventory, dates) == (7, 2, 5)  # not back on sale
    after = (
        await inventory.http.get(
            f"/api/v1/admin/inventory/{dates}/lots/A1/recall", headers=inventory.admin
        )
    ).json()
    assert (after["units"]["returned"], after["units"]["quarantined"]) == (1, 10)
    await assert_invariants(inventory.database, [dates])


async def test_a_recall_without_another_lot_releases_whole_orders(
    inventory: Inventory, kafka_bootstrap_servers: str
) -> None:
    nuts, cups, runtime = sku("nuts"), sku("cups"), inventory.runtime
    await receive_lot(inventory, nuts, "B1", 10, today(inventory) + timedelta(days=90))
    put = await inventory.http.put(
        f"/api/v1/admin/inventory/{cups}", json={"on_hand": 10}, headers=inventory.admin
    )
    assert put.status_code == 201
    held, committed = new_order_id(), new_order_id()
    await place(runtime, held, [(nuts, 2), (cups, 1)], "member-1")
    await place(runtime, committed, [(nuts, 1), (cups, 2)], "member-2")
    await confirm(runtime, committed)

    response = await recall(inventory, nuts, "B1")

    assert response.status_code == 201, response.text
    report = response.json()
    assert report["orders"] == {
        "reallocated": [],
        "cancelled": sorted([held, committed]),
        "notified": [],
    }
    assert (report["units"]["cancelled"], report["units"]["quarantined"]) == (3, 10)
    held_events = await events_of(kafka_bootstrap_servers, held, 3)
    assert types_of(held_events) == [RESERVED, RELEASED, WITHDRAWN]
    assert held_events[1].data == {
        "order_id": held,
        "lines": [{"sku": s, "quantity": q} for s, q in sorted([(nuts, 2), (cups, 1)])],
        "reason": "RECALLED",
    }
    assert held_events[2].data == {
        "order_id": held,
        "sku": nuts,
        "lot": "B1",
        "quantity": 2,
        "reason": "RECALLED",
    }
    committed_events = await events_of(kafka_bootstrap_servers, committed, 5)
    assert types_of(committed_events) == [RESERVED, COMMITTED, COMMITTED, RELEASED, WITHDRAWN]
    assert committed_events[3].data["reason"] == "RECALLED"
    # The other lines are released too; the recalled units stay out of sale.
    assert await stock_levels(inventory, cups) == (10, 0, 10)
    assert await stock_levels(inventory, nuts) == (0, 0, 0)
    assert await lot_levels(inventory, nuts) == {"B1": ("QUARANTINED", 10, 0)}
    for order_id in (held, committed):
        statuses = {
            status for _, _, _, status in await allocations_of(inventory.database, order_id)
        }
        assert statuses <= {"RELEASED", "WITHDRAWN"}
    await assert_invariants(inventory.database, [nuts, cups])


async def _recall_under_load(inventory: Inventory, rng: random.Random) -> None:
    """100 orders of one unit placed and confirmed concurrently; the lot they start taking is
    recalled once 30 have been placed."""
    code, day, runtime = sku("load"), today(inventory), inventory.runtime
    await receive_lot(inventory, code, "BAD", 60, day + timedelta(days=5))
    await receive_lot(inventory, code, "GOOD", 60, day + timedelta(days=30))
    orders = [new_order_id() for _ in range(100)]
    placed, go = Counter[str](), asyncio.Event()

    async def order(order_id: str) -> None:
        await asyncio.sleep(rng.random() * 0.2)
        await place(runtime, order_id, [(code, 1)], "member-load")
        placed["n"] += 1
        if placed["n"] == 30:
            go.set()
        await asyncio.sleep(rng.random() * 0.05)
        await confirm(runtime, order_id)

    async def recall_midway() -> None:
        await go.wait()
        response = await recall(inventory, code, "BAD")
        assert response.status_code == 201, response.text

    await asyncio.gather(recall_midway(), *(order(o) for o in orders))
    await check_lots(runtime)  # settles whatever raced the recall's own settlement

    async with inventory.database.sessions() as session:
        conn = await session.connection()
        withdrawn_at = (
            await conn.execute(
                sa.select(LOTS.c.withdrawn_at).where(LOTS.c.sku == code, LOTS.c.code == "BAD")
            )
        ).scalar_one()
        bad = (
            await conn.execute(
                sa.select(ALLOCATIONS.c.status, ALLOCATIONS.c.committed_at).where(
                    ALLOCATIONS.c.sku == code, ALLOCATIONS.c.lot == "BAD"
                )
            )
        ).all()
        outcomes = dict(
            (
                await conn.execute(
                    sa.select(RESERVATIONS.c.status, sa.func.count())
                    .where(RESERVATIONS.c.order_id.in_(orders))
                    .group_by(RESERVATIONS.c.status)
                )
            ).all()
        )
    assert withdrawn_at is not None
    # Units of the recalled lot were committed only before the recall, and none is still
    # committed or held in it now (nothing had shipped).
    assert [c for _, c in bad if c is not None and c >= withdrawn_at] == []
    assert {status for status, _ in bad} <= {"MOVED", "WITHDRAWN", "RELEASED"}
    assert sum(outcomes.values()) == 100 and set(outcomes) <= {"COMMITTED", "RELEASED", "REJECTED"}
    assert outcomes.get("COMMITTED", 0) <= 60  # only GOOD can have given units
    for order_id in orders:
        allocations = await allocations_of(inventory.database, order_id)
        committed = [a for a in allocations if a[3] == "COMMITTED"]
        assert len(committed) in (0, 1) and all(lot == "GOOD" for _, lot, _, _ in committed)
    await assert_invariants(inventory.database, [code])


async def test_no_unit_of_a_recalled_lot_is_committed_after_the_recall(
    inventory: Inventory,
) -> None:
    rng = random.Random(13)
    for _ in range(3):
        await _recall_under_load(inventory, rng)


async def test_a_stock_take_after_the_implicit_lot_was_recalled_is_refused(
    inventory: Inventory,
) -> None:
    """Units received without a lot were recalled: a count of sellable stock cannot be put back
    into their quarantined lot (the stock would show units no order can be given)."""
    code = sku("bulk")
    put = await inventory.http.put(
        f"/api/v1/admin/inventory/{code}", json={"on_hand": 30}, headers=inventory.admin
    )
    assert put.status_code in (200, 201), put.text
    assert (await recall(inventory, code, "DEFAULT")).status_code in (200, 201, 202)
    again = await inventory.http.put(
        f"/api/v1/admin/inventory/{code}", json={"on_hand": 50}, headers=inventory.admin
    )
    assert again.status_code == 409 and again.json()["type"].endswith("/default-lot-withdrawn")
    assert await stock_levels(inventory, code) == (0, 0, 0)
    assert (await lot_levels(inventory, code))["DEFAULT"] == ("QUARANTINED", 30, 0)
    await assert_invariants(inventory.database, [code])
    # New units come in as a named lot, and sell.
    await receive_lot(inventory, code, "B2", 50, None)
    assert await stock_levels(inventory, code) == (50, 0, 50)
    await assert_invariants(inventory.database, [code])
