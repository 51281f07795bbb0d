"""Reservation rows: one per order (the order id is the key), claimed on `placed` and locked
by every later step, so that steps of one order never interleave."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import select

from chassis.db import insert_ignore
from inventory_service.service.stock_levels import now
from inventory_service.tables import RESERVATIONS

_LOCK_RESERVATION = (
    select(RESERVATIONS.c.status, RESERVATIONS.c.lines, RESERVATIONS.c.reason)
    .where(RESERVATIONS.c.order_id == sa.bindparam("order_id"))
    .with_for_update()  # serialises with the expiry job
)
_LINES = select(RESERVATIONS.c.lines).where(RESERVATIONS.c.order_id == sa.bindparam("order_id"))
_SET_STATUS = (
    sa.update(RESERVATIONS)
    .where(RESERVATIONS.c.order_id == sa.bindparam("b_order_id"))
    .values(
        status=sa.bindparam("status"), reason=sa.bindparam("reason"), updated_at=sa.bindparam("at")
    )
)


async def claim_reservation(
    conn: AsyncConnection,
    order_id: str,
    *,
    member_id: str,
    status: str,
    lines: list[dict[str, Any]],
    reason: str | None,
    expires_at: datetime,
    at: datetime,
) -> bool:
    """Insert the order's reservation unless it has one (INSERT ... ON CONFLICT DO NOTHING; a
    concurrent insert of the same order waits for the other transaction, then counts as
    taken)."""
    values = {
        "order_id": order_id,
        "status": status,
        "member_id": member_id,
        "lines": lines,
        "reason": reason,
        "expires_at": expires_at,
        "created_at": at,
        "updated_at": at,
    }
    return await insert_ignore(conn, RESERVATIONS, values) == 1


async def lock_reservation(
    conn: AsyncConnection, order_id: str
) -> tuple[str, list[dict[str, Any]], str | None] | None:
    """The reservation's status, lines and reason, its row locked; None when there is none."""
    row = (await conn.execute(_LOCK_RESERVATION, {"order_id": order_id})).first()
    if row is None:
        return None
    status, lines, reason = tuple(row)
    return status, lines, reason


async def set_status(conn: AsyncConnection, order_id: str, status: str, reason: str | None) -> None:
    params = {"b_order_id": order_id, "status": status, "reason": reason, "at": now()}
    await conn.execute(_SET_STATUS, params)
