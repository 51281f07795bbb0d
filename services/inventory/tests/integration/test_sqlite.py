"""The embedded default (`make run`) is SQLite: the same reservation rules on it, including
the all-or-none decision on the locked levels that reserves nothing when one line is short."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from chassis.consumer import Delivery
from chassis.db import Database
from chassis.testing.events import envelope_of
from chassis.testing.harness import offline_runtime
from inventory_service.config import MIGRATIONS_DIR, InventorySettings
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.reservations import ReservationAction, ReservationStatus
from inventory_service.service import reservations
from inventory_service.tables import STOCK

from .conftest import confirmed, new_order_id, put_stock, reserve_directly

pytestmark = pytest.mark.integration


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[InventoryRuntime]:
    settings = InventorySettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'inventory.db'}")
    async with offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime:
        yield runtime


async def levels(db: Database, code: str) -> tuple[int, int]:
    async with db.sessions() as session:
        row = (
            await session.exec(select(STOCK.c.on_hand, STOCK.c.reserved).where(STOCK.c.sku == code))
        ).one()
    return int(row[0]), int(row[1])


async def test_reservation_lifecycle_on_sqlite(
    runtime: InventoryRuntime, monkeypatch: pytest.MonkeyPatch
) -> None:
    database = runtime.database
    await put_stock(database, "A-1", on_hand=5)
    await put_stock(database, "B-1", on_hand=1)

    async def plenty(_: object, skus: list[str]) -> dict[str, int]:
        return dict.fromkeys(skus, 10**9)  # skip the early refusal: decide on the locked rows

    with monkeypatch.context() as patch:
        patch.setattr(reservations, "available_of", plenty)
        short = await reserve_directly(database, new_order_id(), [("A-1", 2), ("B-1", 2)])
    assert short is ReservationStatus.REJECTED
    assert await levels(database, "A-1") == (5, 0)  # A-1 fits, but nothing was reserved

    order_id = new_order_id()
    assert await reserve_directly(database, order_id, [("A-1", 2)]) is ReservationStatus.RESERVED
    assert await reserve_directly(database, order_id, [("A-1", 2)]) is None
    async with database.transaction() as session:
        delivery = Delivery(session, envelope_of(confirmed(order_id)), runtime.outbox, runtime)
        assert await reservations.settle_reservation(
            delivery, order_id, ReservationAction.COMMIT, member_id="member-1"
        )
    assert await levels(database, "A-1") == (3, 0)

    assert await reserve_directly(database, new_order_id(), [("A-1", 3)], ttl_seconds=1) == (
        ReservationStatus.RESERVED
    )
    assert await levels(database, "A-1") == (3, 3)
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert await reservations.release_expired(runtime, at=later) == 1
    assert await reservations.release_expired(runtime, at=later) == 0
    assert await levels(database, "A-1") == (3, 0)
