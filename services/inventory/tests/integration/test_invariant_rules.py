"""The inventory rules of tools/invariants.py (run by the end-to-end tests, `make bench` and
`make chaos`) find the rows that break them: each is shown a database where one row does."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from chassis.testing.harness import offline_runtime
from chassis.testing.infra import DatabaseFactory
from inventory_service.config import MIGRATIONS_DIR, InventorySettings
from inventory_service.deps import InventoryRuntime
from inventory_service.schemas import LotReceive
from inventory_service.service import lots
from inventory_service.tables import RESERVATIONS
from tools.invariants import VIOLATIONS

from .conftest import new_order_id
from .lot_support import place

pytestmark = pytest.mark.integration

HELD_FOR_NOTHING = "units are held only for a reservation that is still reserved"


@pytest.fixture
async def runtime(create_database: DatabaseFactory) -> AsyncIterator[InventoryRuntime]:
    settings = InventorySettings(database_url=await create_database("inventory_rules"))
    async with offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime:
        yield runtime


async def broken(runtime: InventoryRuntime) -> dict[str, int]:
    async with runtime.database.sessions() as session:
        conn = await session.connection()
        counts = {
            rule: (await conn.execute(sa.text(sql))).scalar_one()
            for owner, rule, sql in VIOLATIONS
            if owner == "inventory"
        }
    return {rule: count for rule, count in counts.items() if count}


async def test_units_held_for_a_reservation_that_ended_are_found(
    runtime: InventoryRuntime,
) -> None:
    await lots.receive_lot(runtime, "TEA-1", LotReceive(lot="A", quantity=5))
    order_id = new_order_id()
    await place(runtime, order_id, [("TEA-1", 2)], "m-1")
    assert await broken(runtime) == {}

    # A reservation released while its allocation still holds the units (the orphan a
    # settlement racing a confirmation once left): the lot's reserved units are held by nobody.
    async with runtime.database.transaction() as session:
        await session.exec(
            sa.update(RESERVATIONS)
            .where(RESERVATIONS.c.order_id == order_id)
            .values(status="RELEASED")
        )
    assert await broken(runtime) == {HELD_FOR_NOTHING: 1}
