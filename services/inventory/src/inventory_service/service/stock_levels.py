"""Stock levels in the database: the reads and updates every use case builds on.

No oversell: a change either goes through one UPDATE whose WHERE clause is the rule (the
database applies it atomically; PostgreSQL re-checks it after waiting for a row lock), or, for
several SKUs at once, through one read of their rows locked in SKU order, the rule applied to
those locked levels, and one executemany UPDATE. SKUs are always locked in sorted order so
transactions never wait on each other in a cycle, and CHECK constraints in the schema back the
rules up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.locks import hold_write_lock
from chassis.staging import Stage
from inventory_service.domain.stock import StockLevel, became_low
from inventory_service.tables import STOCK
from shared_events import inventory as events

_LEVEL = (STOCK.c.on_hand, STOCK.c.reserved, STOCK.c.safety_stock)


def now() -> datetime:
    return datetime.now(UTC)


def available_units() -> sa.ColumnElement[int]:
    return STOCK.c.on_hand - STOCK.c.reserved


def new_stock(sku: str, safety_stock: int, at: datetime) -> dict[str, Any]:
    return {"sku": sku, "on_hand": 0, "reserved": 0, "safety_stock": safety_stock, "updated_at": at}


async def change_stock(
    session: AsyncSession,
    sku: str,
    delta_on_hand: int,
    delta_reserved: int,
    *,
    when: sa.ColumnElement[bool] | None = None,
) -> StockLevel | None:
    """One atomic UPDATE of one SKU, applied only if `when` holds. Returns the level after,
    or None when the SKU is unknown or the condition did not hold."""
    statement = sa.update(STOCK).where(STOCK.c.sku == sku)
    if when is not None:
        statement = statement.where(when)
    statement = statement.values(
        on_hand=STOCK.c.on_hand + delta_on_hand,
        reserved=STOCK.c.reserved + delta_reserved,
        updated_at=now(),
    ).returning(*_LEVEL)
    row = (await session.exec(statement)).first()
    return StockLevel(*row) if row is not None else None


async def read_level(session: AsyncSession, sku: str, *, lock: bool = False) -> StockLevel | None:
    query = select(*_LEVEL).where(STOCK.c.sku == sku)
    row = (await session.exec(query.with_for_update() if lock else query)).first()
    return StockLevel(*row) if row is not None else None


# The event handlers' statements, built once with bind parameters and run on the handler's
# connection: building a statement costs about as much CPU as executing it.
_SKUS: sa.BindParameter[list[str]] = sa.bindparam("skus", expanding=True)
_AVAILABLE = select(STOCK.c.sku, available_units()).where(STOCK.c.sku.in_(_SKUS))
# Rows are locked in SKU order (PostgreSQL locks the sorted rows as they leave the sort).
_LOCK_LEVELS = (
    select(STOCK.c.sku, *_LEVEL)
    .where(STOCK.c.sku.in_(_SKUS))
    .order_by(STOCK.c.sku)
    .with_for_update()
)
_CHANGE = (
    sa.update(STOCK)
    .where(STOCK.c.sku == sa.bindparam("b_sku"))
    .values(
        on_hand=STOCK.c.on_hand + sa.bindparam("d_on_hand", type_=sa.Integer),
        reserved=STOCK.c.reserved + sa.bindparam("d_reserved", type_=sa.Integer),
        updated_at=sa.bindparam("at"),
    )
)
_CHANGE_ONE = _CHANGE.returning(*_LEVEL)
# The conditional reservation of one line: applied only if enough is available when the row
# is written.
_RESERVE_ONE = _CHANGE.where(available_units() >= sa.bindparam("quantity")).returning(*_LEVEL)


async def available_of(db: AsyncSession | AsyncConnection, skus: Sequence[str]) -> dict[str, int]:
    """Available units of the known SKUs among `skus` (a plain read, no locks)."""
    conn = await db.connection() if isinstance(db, AsyncSession) else db
    rows = (await conn.execute(_AVAILABLE, {"skus": list(skus)})).all()
    return {row[0]: int(row[1]) for row in rows}


async def lock_levels(conn: AsyncConnection, skus: Sequence[str]) -> dict[str, StockLevel]:
    """The levels of the known SKUs among `skus`, their rows locked in SKU order. Every writer
    of stock, lots and allocations takes these locks first: what it reads after them (a lot's
    status, an order's allocations) cannot change under it. On SQLite, where FOR UPDATE locks
    nothing, the database's write lock is taken instead (`chassis.locks.hold_write_lock`)."""
    await hold_write_lock(conn)
    rows = (await conn.execute(_LOCK_LEVELS, {"skus": sorted(set(skus))})).all()
    return {row[0]: StockLevel(row[1], row[2], row[3]) for row in rows}


async def reserve_one(conn: AsyncConnection, sku: str, quantity: int) -> StockLevel | None:
    """Reserve `quantity` of one SKU if that many are available: the level after, or None."""
    params = {
        "b_sku": sku,
        "d_on_hand": 0,
        "d_reserved": quantity,
        "quantity": quantity,
        "at": now(),
    }
    row = (await conn.execute(_RESERVE_ONE, params)).first()
    return StockLevel(*row) if row is not None else None


Change = tuple[str, int, int]  # sku, delta on hand, delta reserved


async def change_levels(
    conn: AsyncConnection,
    changes: Sequence[Change],
    *,
    locked: dict[str, StockLevel] | None = None,
) -> list[tuple[StockLevel, StockLevel]]:
    """Apply the changes, sorted by SKU (a SKU may come more than once), unconditionally:
    the level before and after each change, in the same order. One change is one UPDATE ...
    RETURNING; several are one locking read of their rows in SKU order, the new levels
    checked against the stock rules (a change that breaks one raises, as the CHECK
    constraints would), and one executemany UPDATE in the same order. `locked`: the levels
    of the changed SKUs as the caller read them under lock in this transaction (no second
    read). A SKU without a stock record raises KeyError."""
    at = now()
    if len(changes) == 1 and locked is None:
        sku, d_on_hand, d_reserved = changes[0]
        params = {"b_sku": sku, "d_on_hand": d_on_hand, "d_reserved": d_reserved, "at": at}
        row = (await conn.execute(_CHANGE_ONE, params)).first()
        if row is None:
            raise KeyError(sku)
        after = StockLevel(*row)
        return [(after.before(d_on_hand, d_reserved), after)]
    levels = (
        dict(locked) if locked is not None else await lock_levels(conn, [c[0] for c in changes])
    )
    result: list[tuple[StockLevel, StockLevel]] = []
    for sku, d_on_hand, d_reserved in changes:
        before = levels[sku]
        after = levels[sku] = StockLevel(
            before.on_hand + d_on_hand, before.reserved + d_reserved, before.safety_stock
        )
        result.append((before, after))
    await conn.execute(
        _CHANGE,
        [
            {"b_sku": sku, "d_on_hand": d_on_hand, "d_reserved": d_reserved, "at": at}
            for sku, d_on_hand, d_reserved in changes
        ],
    )
    return result


def signal_low(stage: Stage, sku: str, before: StockLevel, after: StockLevel) -> None:
    """`inventory.stock.low` when available fell under the safety stock with this change."""
    if became_low(before, after):
        stage(
            events.StockLowV1(sku=sku, available=after.available, safety_stock=after.safety_stock),
            subject=sku,
        )


def stage_adjusted(stage: Stage, sku: str, delta: int, after: StockLevel, reason: str) -> None:
    """Stage `StockAdjustedV1`: the SKU's levels after a change of `delta` units."""
    stage(
        events.StockAdjustedV1(
            sku=sku,
            delta=delta,
            on_hand=after.on_hand,
            reserved=after.reserved,
            available=after.available,
            reason=reason,
        ),
        subject=sku,
    )
