"""Withdrawals racing other writers, on PostgreSQL and on SQLite (`make run`): a statement of
one transaction is held (`chassis.testing.pauses`) while the other runs, so the race happens
the same way every run. Every writer of stock, lots and allocations takes the SKU's stock lock
first (on SQLite, the database's write lock): the second waits, then sees what the first did,
and the SKU's stock stays the sum of its sellable lots."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest

from chassis.errors import Conflict
from chassis.testing.harness import offline_runtime
from chassis.testing.infra import DatabaseFactory
from chassis.testing.pauses import pause_statement
from inventory_service.config import MIGRATIONS_DIR, InventorySettings
from inventory_service.deps import InventoryRuntime
from inventory_service.schemas import AdjustmentCreate, LotReceive
from inventory_service.service import lots, stock
from inventory_service.service.recalls import recall_lot

from .conftest import new_order_id
from .lot_support import assert_invariants, cancel, place

pytestmark = pytest.mark.integration

SKU = "TEA-1"
WAIT_SECONDS = 1.0  # how long the second writer gets while the first is held


@pytest.fixture(params=["postgres", "sqlite"])
async def runtime(
    request: pytest.FixtureRequest, tmp_path: Path, create_database: DatabaseFactory
) -> AsyncIterator[InventoryRuntime]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}"
    else:
        url = await create_database("inventory_races")
    settings = InventorySettings(database_url=url)
    async with offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime:
        yield runtime


def in_days(days: int) -> date:
    return datetime.now(UTC).date() + timedelta(days=days)


async def receive(runtime: InventoryRuntime, lot: str, quantity: int, days: int) -> None:
    await lots.receive_lot(
        runtime, SKU, LotReceive(lot=lot, quantity=quantity, expiry_date=in_days(days))
    )


async def test_two_recalls_of_an_orders_lots_at_once(runtime: InventoryRuntime) -> None:
    """Recalling every lot of a product at once: order X holds lots A and B, which nothing can
    replace. Recall A settles X while recall B takes B out of sale: B's units must leave the
    stock row once, not once by B's withdrawal and again by X's release."""
    await receive(runtime, "A", 5, 10)
    await receive(runtime, "B", 3, 20)
    await receive(runtime, "C", 5, 30)
    x, z = new_order_id(), new_order_id()
    await place(runtime, x, [(SKU, 8)], "m-x")  # A 5 + B 3
    await place(runtime, z, [(SKU, 5)], "m-z")  # C 5

    # Recall A's settlement of X, held once it read X's allocations.
    with pause_statement(runtime.database, lambda sql: "JOIN lots" in sql, after=True) as pause:
        first = asyncio.create_task(recall_lot(runtime, SKU, "A", "listeria", "qa"))
        await pause.reached.wait()
        second = asyncio.create_task(recall_lot(runtime, SKU, "B", "listeria", "qa"))
        await asyncio.wait([second], timeout=WAIT_SECONDS)
        pause.go.set()
        await first
        await second

    await assert_invariants(runtime.database, [SKU])
    # Z's cancellation puts its units back without the stock going below its lots.
    await cancel(runtime, z)
    await assert_invariants(runtime.database, [SKU])


async def test_a_recall_racing_an_adjustment_of_its_lot(runtime: InventoryRuntime) -> None:
    """Units counted into lot A while A is being recalled: the recall takes A's units out of
    sale as they are when it commits, and the adjustment, which waited, is refused (A is no
    longer sellable). None of A's units stays on sale."""
    await receive(runtime, "A", 10, 30)
    await receive(runtime, "B", 10, 60)
    # The recall held just before it marks A recalled, after it read A.
    with pause_statement(
        runtime.database, lambda sql: sql.startswith("UPDATE lots SET status")
    ) as pause:
        recall = asyncio.create_task(recall_lot(runtime, SKU, "A", "salmonella", "qa"))
        await pause.reached.wait()
        adjust = asyncio.create_task(
            stock.adjust_stock(runtime, SKU, AdjustmentCreate(delta=5, reason="found", lot="A"))
        )
        await asyncio.wait([adjust], timeout=WAIT_SECONDS)
        pause.go.set()
        await recall
        with pytest.raises(Conflict):
            await adjust

    await assert_invariants(runtime.database, [SKU])
    level = await stock.get_stock(runtime, SKU)
    assert (level.on_hand, level.reserved) == (10, 0)  # lot B only
