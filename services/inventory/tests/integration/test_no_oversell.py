"""No oversell, on PostgreSQL, under concurrency: the reservation service function called for
hundreds of orders at once, each in its own transaction (no broker involved)."""

from __future__ import annotations

import asyncio
import json
import random
from collections import Counter
from collections.abc import AsyncIterator
from typing import Any

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.exc import IntegrityError
from sqlmodel import select

from chassis.db import Database
from chassis.inbox import InboxRecord
from chassis.migrations import upgrade_async
from chassis.outbox import OutboxRecord
from chassis.testing.infra import DatabaseFactory
from inventory_service.config import MIGRATIONS_DIR
from inventory_service.domain.reservations import ReservationStatus
from inventory_service.service import reservations
from inventory_service.tables import ALLOCATIONS, LOTS, MOVEMENTS, RECALLS, RESERVATIONS, STOCK

from .conftest import new_order_id, put_stock, reserve_directly, sku

pytestmark = pytest.mark.integration


@pytest.fixture
async def database(create_database: DatabaseFactory) -> AsyncIterator[Database]:
    url = await create_database("inventory")
    await upgrade_async(MIGRATIONS_DIR, url)
    db = Database(url)
    yield db
    await db.dispose()


async def stock_of(db: Database, code: str) -> tuple[int, int]:
    async with db.sessions() as session:
        row = (
            await session.exec(select(STOCK.c.on_hand, STOCK.c.reserved).where(STOCK.c.sku == code))
        ).one()
    return int(row[0]), int(row[1])


async def reserved_lines(db: Database) -> Counter[str]:
    """Units held per SKU according to the RESERVED reservations."""
    async with db.sessions() as session:
        rows = (
            await session.exec(
                select(RESERVATIONS.c.lines).where(
                    RESERVATIONS.c.status == ReservationStatus.RESERVED.value
                )
            )
        ).all()
    held: Counter[str] = Counter()
    for lines in rows:
        for line in lines:
            held[line["sku"]] += line["quantity"]
    return held


async def ledger(db: Database, code: str) -> tuple[int, int]:
    async with db.sessions() as session:
        row = (
            await session.exec(
                select(
                    sa.func.coalesce(sa.func.sum(MOVEMENTS.c.delta_on_hand), 0),
                    sa.func.coalesce(sa.func.sum(MOVEMENTS.c.delta_reserved), 0),
                ).where(MOVEMENTS.c.sku == code)
            )
        ).one()
    return int(row[0]), int(row[1])


async def short_lines(db: Database) -> set[tuple[str, int, int]]:
    """(sku, requested, available) of every staged `inventory.stock.rejected`."""
    async with db.sessions() as session:
        rows = (
            await session.exec(
                select(OutboxRecord.data).where(
                    OutboxRecord.event_type == "inventory.stock.rejected"
                )
            )
        ).all()
    return {
        (line["sku"], line["requested"], line["available"])
        for data in rows
        for line in json.loads(data)["short"]
    }


async def staged(db: Database) -> Counter[str]:
    async with db.sessions() as session:
        return Counter((await session.exec(select(OutboxRecord.event_type))).all())


@pytest.fixture(params=["read-first", "update-only"])
def pre_read(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """`update-only` blinds the lock-free availability read that refuses sold-out orders
    early, so that every order goes through the conditional UPDATE."""
    if request.param == "update-only":

        async def plenty(_: object, skus: list[str]) -> dict[str, int]:
            return dict.fromkeys(skus, 10**9)

        monkeypatch.setattr(reservations, "available_of", plenty)
    return str(request.param)


async def test_200_orders_for_50_units_reserve_exactly_50(
    database: Database, pre_read: str
) -> None:
    code = sku("flash")
    await put_stock(database, code, on_hand=50, safety_stock=5)

    outcomes = await asyncio.gather(
        *(reserve_directly(database, new_order_id(), [(code, 1)]) for _ in range(200))
    )

    assert Counter(outcomes) == {ReservationStatus.RESERVED: 50, ReservationStatus.REJECTED: 150}
    assert await stock_of(database, code) == (50, 50)  # available 0, never negative
    assert (await reserved_lines(database))[code] == 50
    assert await ledger(database, code) == (0, 50)
    events = await staged(database)
    assert events["inventory.stock.reserved"] == 50
    assert events["inventory.stock.rejected"] == 150
    assert events["inventory.stock.low"] == 1  # the crossing from 5 to 4, once
    assert await short_lines(database) == {(code, 1, 0)}


async def test_random_quantities_never_exceed_on_hand(database: Database) -> None:
    code = sku("flash")
    await put_stock(database, code, on_hand=50)
    rng = random.Random(7)
    quantities = [rng.randint(1, 3) for _ in range(200)]

    outcomes = await asyncio.gather(
        *(reserve_directly(database, new_order_id(), [(code, q)]) for q in quantities)
    )

    on_hand, reserved = await stock_of(database, code)
    assert on_hand == 50 and 0 <= reserved <= on_hand
    granted = sum(
        q for q, o in zip(quantities, outcomes, strict=True) if o is ReservationStatus.RESERVED
    )
    assert granted == reserved == (await reserved_lines(database))[code]
    assert await ledger(database, code) == (0, reserved)
    # Available only fell: had 3 units been left at the end, no order could have been refused.
    assert ReservationStatus.REJECTED in outcomes and on_hand - reserved < 3


async def test_multi_line_orders_are_all_or_none_without_deadlocks(database: Database) -> None:
    codes = [sku("a"), sku("b"), sku("c")]
    for code in codes:
        await put_stock(database, code, on_hand=40)
    rng = random.Random(11)
    orders: dict[str, list[tuple[str, int]]] = {}
    for _ in range(150):
        picked = rng.sample(codes, rng.randint(1, 3))  # lines in random order
        orders[new_order_id()] = [(code, rng.randint(1, 3)) for code in picked]

    outcomes = dict(
        zip(
            orders,
            await asyncio.gather(*(reserve_directly(database, o, ls) for o, ls in orders.items())),
            strict=True,
        )
    )

    expected: Counter[str] = Counter()
    for order_id, lines in orders.items():
        if outcomes[order_id] is ReservationStatus.RESERVED:
            for code, quantity in lines:
                expected[code] += quantity
    assert ReservationStatus.REJECTED in outcomes.values()
    assert await reserved_lines(database) == expected
    for code in codes:
        on_hand, reserved = await stock_of(database, code)
        assert on_hand == 40 and reserved == expected[code] <= 40
        assert await ledger(database, code) == (0, reserved)


async def test_a_second_placed_for_the_same_order_does_not_reserve_again(
    database: Database,
) -> None:
    code, order_id = sku(), new_order_id()
    await put_stock(database, code, on_hand=10)
    results = await asyncio.gather(
        *(reserve_directly(database, order_id, [(code, 2)]) for _ in range(5))
    )
    assert sorted(results, key=str) == [None] * 4 + [ReservationStatus.RESERVED]
    assert await stock_of(database, code) == (10, 2)


@pytest.mark.usefixtures("pre_read")
async def test_a_rejected_order_reserves_nothing_even_on_lines_that_fit(
    database: Database,
) -> None:
    plenty, scarce, order_id = sku("plenty"), sku("scarce"), new_order_id()
    await put_stock(database, plenty, on_hand=100)
    await put_stock(database, scarce, on_hand=1)
    lines = [(scarce, 1), (plenty, 3), (scarce, 1), (sku("unknown"), 1)]
    assert await reserve_directly(database, order_id, lines) is ReservationStatus.REJECTED
    assert await stock_of(database, plenty) == (100, 0)
    assert await stock_of(database, scarce) == (1, 0)
    assert await ledger(database, plenty) == (0, 0)


async def test_the_database_refuses_what_the_rules_refuse(database: Database) -> None:
    code = sku()
    await put_stock(database, code, on_hand=3)
    broken: list[dict[str, Any]] = [{"reserved": 4}, {"on_hand": -1}, {"reserved": -1}]
    for values in broken:
        with pytest.raises(IntegrityError):
            async with database.transaction() as session:
                await session.exec(sa.update(STOCK).where(STOCK.c.sku == code).values(**values))
    assert await stock_of(database, code) == (3, 0)


async def test_migrations_match_the_tables(database: Database) -> None:
    # SQLModel's metadata is shared by every service imported here: compare ours only. (The
    # chassis' outbox model differs from its migration in ways the chassis owns.)
    ours = sa.MetaData()
    tables = (STOCK, RESERVATIONS, MOVEMENTS, LOTS, ALLOCATIONS, RECALLS, InboxRecord.__table__)
    for table in tables:  # type: ignore[attr-defined]
        table.to_metadata(ours)

    def diff(connection: sa.Connection) -> list[Any]:
        context = MigrationContext.configure(
            connection,
            opts={
                "compare_type": True,
                "include_name": lambda name, kind, _: kind != "table" or name in ours.tables,
            },
        )
        return list(compare_metadata(context, ours))

    async with database.engine.connect() as connection:
        assert await connection.run_sync(diff) == []
