"""Lots in the database: the first-expired-first-out read and the per-lot changes that every
use case builds on.

Lock order: a SKU's `stock` row is locked before any of its lots is written (every writer
goes through the stock row first), so the lots of one SKU never need locks of their own and
their sum always matches the stock row inside one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from inventory_service.domain.lots import LotStatus, LotStock
from inventory_service.tables import LOTS

_SKUS: sa.BindParameter[list[str]] = sa.bindparam("skus", expanding=True)
# Sellable lots with free units, not past their expiry date, first expired first.
_FEFO = (
    sa.select(LOTS.c.sku, LOTS.c.code, LOTS.c.on_hand - LOTS.c.reserved, LOTS.c.expiry_date)
    .where(
        LOTS.c.sku.in_(_SKUS),
        LOTS.c.status == LotStatus.SELLABLE.value,
        LOTS.c.on_hand > LOTS.c.reserved,
        sa.or_(LOTS.c.expiry_date.is_(None), LOTS.c.expiry_date >= sa.bindparam("today")),
    )
    .order_by(LOTS.c.sku, LOTS.c.expiry_date.asc().nulls_last(), LOTS.c.received_at, LOTS.c.code)
)
_CHANGE = (
    sa.update(LOTS)
    .where(LOTS.c.sku == sa.bindparam("b_sku"), LOTS.c.code == sa.bindparam("b_lot"))
    .values(
        on_hand=LOTS.c.on_hand + sa.bindparam("d_on_hand", type_=sa.Integer),
        reserved=LOTS.c.reserved + sa.bindparam("d_reserved", type_=sa.Integer),
        updated_at=sa.bindparam("at"),
    )
)

LotChange = tuple[str, str, int, int]  # sku, lot, delta on hand, delta reserved


async def fefo_lots(
    conn: AsyncConnection, skus: Sequence[str], today: date
) -> dict[str, list[LotStock]]:
    """The sellable lots of `skus` that can still give units, first expired first."""
    rows = (await conn.execute(_FEFO, {"skus": list(skus), "today": today})).all()
    lots: dict[str, list[LotStock]] = {}
    for sku, code, free, expiry_date in rows:
        lots.setdefault(sku, []).append(LotStock(code, int(free), expiry_date))
    return lots


async def change_lots(conn: AsyncConnection, changes: Sequence[LotChange], at: datetime) -> None:
    """Apply per-lot deltas, one executemany UPDATE (the CHECK constraints refuse a lot below
    zero or reserved above on-hand)."""
    if changes:
        await conn.execute(
            _CHANGE,
            [
                {
                    "b_sku": sku,
                    "b_lot": lot,
                    "d_on_hand": d_on_hand,
                    "d_reserved": d_reserved,
                    "at": at,
                }
                for sku, lot, d_on_hand, d_reserved in changes
            ],
        )


_ADJUST = (
    sa.update(LOTS)
    .where(
        LOTS.c.sku == sa.bindparam("b_sku"),
        LOTS.c.code == sa.bindparam("b_lot"),
        LOTS.c.status == LotStatus.SELLABLE.value,
        LOTS.c.on_hand + sa.bindparam("delta", type_=sa.Integer) >= LOTS.c.reserved,
    )
    .values(on_hand=LOTS.c.on_hand + sa.bindparam("delta"), updated_at=sa.bindparam("at"))
)


async def adjust_lot(conn: AsyncConnection, sku: str, lot: str, delta: int) -> bool:
    """Correct a sellable lot's on-hand by `delta`, never below what orders hold in it.
    Returns whether it applied (the caller has locked the SKU's stock row)."""
    params = {"b_sku": sku, "b_lot": lot, "delta": delta, "at": datetime.now(UTC)}
    return int((await conn.execute(_ADJUST, params)).rowcount) == 1


_DISPOSE = (
    sa.update(LOTS)
    .where(
        LOTS.c.sku == sa.bindparam("b_sku"),
        LOTS.c.code == sa.bindparam("b_lot"),
        # The rule again, in the statement: SQLite takes no row lock, so a concurrent
        # disposal may have taken the units since they were read.
        LOTS.c.status != LotStatus.SELLABLE.value,
        LOTS.c.on_hand - LOTS.c.reserved >= sa.bindparam("quantity", type_=sa.Integer),
    )
    .values(
        on_hand=LOTS.c.on_hand - sa.bindparam("quantity"),
        disposed=LOTS.c.disposed + sa.bindparam("quantity"),
        updated_at=sa.bindparam("at"),
    )
    .returning(LOTS.c.disposed)
)


async def dispose_units(conn: AsyncConnection, sku: str, lot: str, quantity: int) -> int | None:
    """Take `quantity` units out of a lot out of sale for good: the lot's units disposed of so
    far, or None when the lot no longer has them free (the caller has locked the SKU's stock
    row on PostgreSQL and checked the rule; SQLite writers may still meet here)."""
    params = {"b_sku": sku, "b_lot": lot, "quantity": quantity, "at": datetime.now(UTC)}
    disposed = (await conn.execute(_DISPOSE, params)).scalar_one_or_none()
    return None if disposed is None else int(disposed)
