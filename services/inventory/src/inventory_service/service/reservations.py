"""Reservations for the order saga: reserve all or nothing on `order.order.placed`, then
commit, release or restock on the order's outcome, and release what nobody confirmed in time.

A reservation row per order (the order id is its key) makes every step idempotent by state as
well as by the chassis inbox: a second `placed` for an order finds the key taken, and an
outcome that does not apply to the reservation's status changes nothing.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.consumer import Delivery
from chassis.logging import get_logger
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.reservations import (
    Line,
    ReleaseReason,
    ReservationAction,
    ReservationStatus,
    Shortage,
    Step,
    merge_lines,
    next_step,
    plan_reservation,
)
from inventory_service.domain.stock import MovementKind, StockLevel
from inventory_service.service.ledger import movement, write_movements
from inventory_service.service.stock_levels import (
    Stage,
    available_of,
    change_levels,
    lock_levels,
    now,
    reserve_one,
    signal_low,
)
from inventory_service.tables import RESERVATIONS
from shared_events import EventPayload
from shared_events import inventory as events
from shared_events.order import OrderPlacedV1

log = get_logger(__name__)

OUT_OF_STOCK = "OUT_OF_STOCK"

_CLAIM_RESERVATION = {
    "postgresql": postgresql.insert(RESERVATIONS).on_conflict_do_nothing(),
    "sqlite": sqlite.insert(RESERVATIONS).on_conflict_do_nothing(),
}
_LOCK_RESERVATION = (
    select(RESERVATIONS.c.status, RESERVATIONS.c.lines, RESERVATIONS.c.reason)
    .where(RESERVATIONS.c.order_id == sa.bindparam("order_id"))
    .with_for_update()  # serialises with the expiry job
)
_SET_STATUS = (
    sa.update(RESERVATIONS)
    .where(RESERVATIONS.c.order_id == sa.bindparam("b_order_id"))
    .values(
        status=sa.bindparam("status"), reason=sa.bindparam("reason"), updated_at=sa.bindparam("at")
    )
)


async def claim_reservation(conn: AsyncConnection, values: dict[str, Any]) -> bool:
    """Insert the order's reservation unless it has one (INSERT ... ON CONFLICT DO NOTHING; a
    concurrent insert of the same order waits for the other transaction, then counts as
    taken)."""
    result = await conn.execute(_CLAIM_RESERVATION[conn.dialect.name], values)
    return int(result.rowcount) == 1


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


def _stock_lines(lines: Sequence[Line]) -> list[events.StockLine]:
    return [events.StockLine(sku=line.sku, quantity=line.quantity) for line in lines]


def _lines(stored: list[dict[str, Any]]) -> list[Line]:
    return [Line(str(line["sku"]), int(line["quantity"])) for line in stored]


async def _hold(
    conn: AsyncConnection, order_id: str, lines: list[Line]
) -> tuple[dict[str, StockLevel], list[Shortage]]:
    """Reserve every line or none. Returns the levels after, or the short lines.

    One line is one conditional UPDATE (applied only if enough is available when the row is
    written; a locked read tells a shortage from a release meanwhile). Several lines are one
    read of their rows locked in SKU order (one global order, so two reservations never wait
    on each other in a cycle), the all-or-none decision on those locked levels, then one
    executemany UPDATE; nothing is written unless every line fits, and the CHECK constraints
    back the rule up."""
    if len(lines) == 1:
        line = lines[0]
        after = await reserve_one(conn, line.sku, line.quantity)
        if after is None:  # short, or freed between the two statements
            levels = await lock_levels(conn, [line.sku])
            available = levels[line.sku].available if line.sku in levels else 0
            if available < line.quantity:
                return {}, [Shortage(line.sku, line.quantity, available)]
            after = await reserve_one(conn, line.sku, line.quantity)  # locked for us now
            if after is None:
                raise RuntimeError(f"the locked stock record of {line.sku} changed")
        held = {line.sku: after}
    else:
        locked = await lock_levels(conn, [line.sku for line in lines])
        short = plan_reservation(lines, {sku: level.available for sku, level in locked.items()})
        if short:
            return {}, short
        changes = [(line.sku, 0, line.quantity) for line in lines]  # sorted by SKU
        held = {
            sku: after
            for (sku, _, _), (_, after) in zip(
                changes, await change_levels(conn, changes), strict=True
            )
        }
    placed = "ORDER_PLACED"
    await write_movements(
        conn,
        [movement(ln.sku, MovementKind.RESERVE, 0, ln.quantity, placed, order_id) for ln in lines],
    )
    return held, []


async def reserve_stock(
    delivery: Delivery[InventoryRuntime], order: OrderPlacedV1, *, ttl_seconds: float
) -> ReservationStatus | None:
    """`order.order.placed`: reserve every line or none, then stage `inventory.stock.reserved`
    or `inventory.stock.rejected` (and `inventory.stock.low` for SKUs that crossed). Returns
    the decision, or None when the order had one already (a `placed` under another event id)."""
    conn, order_id, at = await delivery.session.connection(), order.order_id, now()
    lines = merge_lines((item.sku, item.quantity) for item in order.items)
    expires_at = at + timedelta(seconds=ttl_seconds)
    claimed = await claim_reservation(
        conn,
        {
            "order_id": order_id,
            "status": ReservationStatus.RESERVED.value,
            "lines": [{"sku": line.sku, "quantity": line.quantity} for line in lines],
            "reason": None,
            "expires_at": expires_at,
            "created_at": at,
            "updated_at": at,
        },
    )
    if not claimed:
        log.info("order already decided; placed event ignored", order_id=order_id)
        return None
    # Sold out is the common case in a flash sale: decided on a plain read, without locks.
    shortages = plan_reservation(lines, await available_of(conn, [x.sku for x in lines]))
    levels: dict[str, StockLevel] = {}
    if not shortages:
        levels, shortages = await _hold(conn, order_id, lines)
    if shortages:
        await set_status(conn, order_id, ReservationStatus.REJECTED.value, OUT_OF_STOCK)
        short = [
            events.ShortLine(sku=s.sku, requested=s.requested, available=s.available)
            for s in shortages
        ]
        delivery.stage(events.StockRejectedV1(order_id=order_id, short=short), subject=order_id)
        return ReservationStatus.REJECTED
    delivery.stage(
        events.StockReservedV1(order_id=order_id, lines=_stock_lines(lines), expires_at=expires_at),
        subject=order_id,
    )
    for line in lines:
        after = levels[line.sku]
        signal_low(delivery.stage, line.sku, after.before(0, line.quantity), after)
    return ReservationStatus.RESERVED


async def _apply(
    conn: AsyncConnection, stage: Stage, held: list[tuple[str, list[Line]]], step: Step
) -> None:
    """Apply a lifecycle step to reservations whose status the caller has moved: stock and
    ledger per line (every SKU in sorted order, across orders), then one event per order."""
    reason = step.reason.value if step.reason else "ORDER_CONFIRMED"
    changes = sorted((ln.sku, order_id, ln.quantity) for order_id, lines in held for ln in lines)
    deltas = [(sku, *step.deltas(quantity)) for sku, _, quantity in changes]
    try:
        levels = await change_levels(conn, deltas)
    except KeyError as missing:
        order_id = next(o for sku, o, _ in changes if sku == missing.args[0])
        raise RuntimeError(
            f"the stock record of {missing.args[0]}, held by order {order_id}, is missing"
        ) from None
    movements: list[dict[str, Any]] = []
    for (sku, order_id, _), (_, d_on_hand, d_reserved), (before, after) in zip(
        changes, deltas, levels, strict=True
    ):
        movements.append(movement(sku, step.kind, d_on_hand, d_reserved, reason, order_id))
        signal_low(stage, sku, before, after)
    await write_movements(conn, movements)
    for order_id, lines in held:
        payload: events.StockCommittedV1 | events.StockReleasedV1
        if step.reason is None:
            payload = events.StockCommittedV1(order_id=order_id, lines=_stock_lines(lines))
        else:
            payload = events.StockReleasedV1(
                order_id=order_id, lines=_stock_lines(lines), reason=step.reason.value
            )
        stage(payload, subject=order_id)


async def settle_reservation(
    delivery: Delivery[InventoryRuntime], order_id: str, action: ReservationAction
) -> bool:
    """`order.order.confirmed` (commit), `.rejected` (release), `.cancelled` (release, or
    restock once committed). Returns whether anything changed: a reservation that is missing
    or past this step is left alone."""
    conn = await delivery.session.connection()
    row = await lock_reservation(conn, order_id)
    if row is None:
        log.info("no reservation for this order", order_id=order_id, action=action.value)
        return False
    status, lines, reason = row
    step = next_step(ReservationStatus(status), action)
    if step is None:
        if action is ReservationAction.COMMIT and reason == ReleaseReason.EXPIRED:
            log.warning("order confirmed after its reservation expired", order_id=order_id)
        return False
    await set_status(conn, order_id, step.target.value, step.reason.value if step.reason else None)
    await _apply(conn, delivery.stage, [(order_id, _lines(lines))], step)
    return True


def _correlated_stage(runtime: InventoryRuntime, session: AsyncSession) -> Stage:
    """Stage in `session`, with the subject (the order) as correlation id."""

    def stage(payload: EventPayload, *, subject: str) -> object:
        return runtime.outbox.stage(session, payload, subject=subject, correlation_id=subject)

    return stage


async def release_expired(runtime: InventoryRuntime, *, at: datetime | None = None) -> int:
    """The expiry job: release RESERVED reservations past their deadline, a batch per
    transaction; returns how many. Rows another transaction holds are skipped this round."""
    at = at or now()
    step = next_step(ReservationStatus.RESERVED, ReservationAction.EXPIRE)
    assert step is not None and step.reason is not None
    released = 0
    while True:
        async with runtime.database.transaction() as session:
            due = (
                select(RESERVATIONS.c.order_id)
                .where(
                    RESERVATIONS.c.status == ReservationStatus.RESERVED.value,
                    RESERVATIONS.c.expires_at <= at,
                )
                .order_by(RESERVATIONS.c.expires_at)
                .limit(runtime.settings.expiry_batch_size)
                .with_for_update(skip_locked=True)
            )
            # Claimed by the status change itself, in one statement: two replicas (or SQLite's
            # one writer) never release the same reservation twice.
            claimed = (
                await session.exec(
                    sa.update(RESERVATIONS)
                    .where(
                        RESERVATIONS.c.order_id.in_(due),
                        RESERVATIONS.c.status == ReservationStatus.RESERVED.value,
                    )
                    .values(status=step.target.value, reason=step.reason.value, updated_at=at)
                    .returning(RESERVATIONS.c.order_id, RESERVATIONS.c.lines)
                )
            ).all()
            if not claimed:
                return released
            held = [(order_id, _lines(lines)) for order_id, lines in claimed]
            conn = await session.connection()
            await _apply(conn, _correlated_stage(runtime, session), held, step)
        released += len(claimed)
        log.info("expired reservations released", count=len(claimed))
