"""Lots on the embedded default (`make run`), SQLite: first expired first out, the lot job
withdrawing an expired lot, a recall moving a held order to another lot, and the recalled
lot disposed of."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from chassis.errors import Conflict
from chassis.testing.harness import offline_runtime
from inventory_service.config import MIGRATIONS_DIR, InventorySettings
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.stock import StockRuleError
from inventory_service.schemas import DisposalCreate, LotReceive
from inventory_service.service import lots, stock
from inventory_service.service.disposals import dispose_of_lot
from inventory_service.service.lot_jobs import check_lots
from inventory_service.service.recalls import recall_lot, recall_report

from .conftest import new_order_id
from .lot_support import age_lot, allocations_of, assert_invariants, confirm, place

pytestmark = pytest.mark.integration


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[InventoryRuntime]:
    settings = InventorySettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}")
    async with offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime:
        yield runtime


def in_days(days: int) -> date:
    return datetime.now(UTC).date() + timedelta(days=days)


async def receive(runtime: InventoryRuntime, lot: str, quantity: int, expiry: date | None) -> None:
    await lots.receive_lot(
        runtime, "TEA-1", LotReceive(lot=lot, quantity=quantity, expiry_date=expiry)
    )


async def test_fefo_expiry_and_recall_on_sqlite(runtime: InventoryRuntime) -> None:
    await receive(runtime, "LATE", 5, in_days(60))
    await receive(runtime, "UNDATED", 10, None)
    await receive(runtime, "EARLY", 3, in_days(10))
    await receive(runtime, "MID", 4, in_days(30))
    first, second, third = new_order_id(), new_order_id(), new_order_id()

    await place(runtime, first, [("TEA-1", 2)], "m-1")
    await place(runtime, second, [("TEA-1", 4)], "m-2")
    await confirm(runtime, first)
    await confirm(runtime, second)

    assert await allocations_of(runtime.database, first) == [("TEA-1", "EARLY", 2, "COMMITTED")]
    assert await allocations_of(runtime.database, second) == [
        ("TEA-1", "EARLY", 1, "COMMITTED"),
        ("TEA-1", "MID", 3, "COMMITTED"),
    ]
    listed = await lots.list_lots(runtime, "TEA-1")
    assert [(lot.lot, lot.on_hand) for lot in listed.items] == [
        ("EARLY", 0),
        ("MID", 1),
        ("LATE", 5),
        ("UNDATED", 10),
    ]

    # MID passes its date: never sold, withdrawn by the lot job.
    await age_lot(runtime.database, "TEA-1", "MID", in_days(-1))
    await place(runtime, third, [("TEA-1", 2)], "m-3")
    assert await allocations_of(runtime.database, third) == [("TEA-1", "LATE", 2, "HELD")]
    await check_lots(runtime)
    assert (await lots.get_lot(runtime, "TEA-1", "MID")).status == "EXPIRED"

    # The expired MID units the second order had not shipped were replaced from LATE.
    assert (await allocations_of(runtime.database, second))[-1] == ("TEA-1", "LATE", 3, "COMMITTED")

    # LATE is recalled: both orders move to the undated lot.
    report = await recall_lot(runtime, "TEA-1", "LATE", "foreign matter", "admin")
    assert report.orders.reallocated == sorted([second, third])
    assert report.units.quarantined == 5
    assert await allocations_of(runtime.database, third) == [
        ("TEA-1", "LATE", 2, "MOVED"),
        ("TEA-1", "UNDATED", 2, "HELD"),
    ]
    await assert_invariants(runtime.database, ["TEA-1"])

    # The quarantined units are destroyed: they leave LATE for good, the SKU's stock stays.
    before = await stock.get_stock(runtime, "TEA-1")
    disposed = await dispose_of_lot(runtime, "TEA-1", "LATE", DisposalCreate(reason="destroyed"))
    assert (disposed.status, disposed.on_hand, disposed.disposed) == ("QUARANTINED", 0, 5)
    after = await stock.get_stock(runtime, "TEA-1")
    assert (after.on_hand, after.reserved) == (before.on_hand, before.reserved)
    assert (await recall_report(runtime, "TEA-1", "LATE")).units.disposed == 5
    await assert_invariants(runtime.database, ["TEA-1"])


async def test_two_disposals_of_the_same_units_at_once_on_sqlite(runtime: InventoryRuntime) -> None:
    # SQLite takes no row lock: the second disposal waits for the database's write lock,
    # reads after the first committed and is refused with a 409 (its rule, or the rule in its
    # UPDATE), never a constraint error.
    await receive(runtime, "LOT-X", 4, in_days(5))
    await age_lot(runtime.database, "TEA-1", "LOT-X", in_days(-1))
    await check_lots(runtime)
    both = await asyncio.gather(
        *(
            dispose_of_lot(runtime, "TEA-1", "LOT-X", DisposalCreate(reason="destroyed"))
            for _ in "ab"
        ),
        return_exceptions=True,
    )
    refused = [outcome for outcome in both if isinstance(outcome, Conflict | StockRuleError)]
    done = [outcome for outcome in both if not isinstance(outcome, BaseException)]
    assert (len(done), len(refused)) == (1, 1), both
    assert refused[0].status == 409
    assert (await lots.get_lot(runtime, "TEA-1", "LOT-X")).disposed == 4
    await assert_invariants(runtime.database, ["TEA-1"])
