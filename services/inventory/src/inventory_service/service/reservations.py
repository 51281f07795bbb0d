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
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.consumer import Delivery
from chassis.db import insert_ignore
from chassis.logging import get_logger
from chassis.runtime import Runtime
from inventory_service import domain
from inventory_service.domain import (
    Line,
    MovementKind,
    ReservationAction,
    ReservationStatus,
    StockLevel,
)
from inventory_service.service.statements import (
    Stage,
    available_of,
    available_units,
    change_stock,
    movement,
    now,
    read_level,
    record,
    settings_of,
    signal_low,
)
from inventory_service.tables import RESERVATIONS
from shared_events import EventPayload
from shared_events import inventory as events
from shared_events.order import OrderPlacedV1

log = get_logger(__name__)

OUT_OF_STOCK = "OUT_OF_STOCK"


def _stock_lines(lines: Sequence[Line]) -> list[events.StockLine]:
    return [events.StockLine(sku=line.sku, quantity=line.quantity) for line in lines]


def _lines(stored: list[dict[str, Any]]) -> list[Line]:
    return [Line(str(line["sku"]), int(line["quantity"])) for line in stored]


async def _reserve_line(session: AsyncSession, line: Line) -> StockLevel | domain.Shortage:
    """The conditional update that never oversells: it applies only if enough is available
    when the row is written."""
    enough = available_units() >= line.quantity
    after = await change_stock(session, line.sku, 0, line.quantity, when=enough)
    if after is not None:
        return after
    # Short, or freed between the two statements: a locked read tells which.
    current = await read_level(session, line.sku, lock=True)
    available = current.available if current is not None else 0
    if available >= line.quantity:  # freed meanwhile, and the row is locked for us now
        after = await change_stock(session, line.sku, 0, line.quantity, when=enough)
    return after if after is not None else domain.Shortage(line.sku, line.quantity, available)


async def _hold(
    session: AsyncSession, order_id: str, lines: list[Line]
) -> tuple[dict[str, StockLevel], list[domain.Shortage]]:
    """Reserve every line or none, inside a SAVEPOINT, so the caller's inbox and reservation
    rows stay whatever happens here. Returns the levels after, or the short lines."""
    levels: dict[str, StockLevel] = {}
    short: domain.Shortage | None = None
    async with session.begin_nested() as savepoint:
        for i, line in enumerate(lines):  # sorted by SKU: rows are locked in one global order
            outcome = await _reserve_line(session, line)
            if isinstance(outcome, domain.Shortage):
                short, untried = outcome, lines[i + 1 :]
                await savepoint.rollback()
                break
            levels[line.sku] = outcome
        else:
            placed = "ORDER_PLACED"
            await record(
                session,
                [
                    movement(line.sku, MovementKind.RESERVE, 0, line.quantity, placed, order_id)
                    for line in lines
                ],
            )
    if short is None:
        return levels, []
    # Report the lines not tried yet that are short as well.
    available = await available_of(session, [line.sku for line in untried])
    return {}, [short, *domain.plan_reservation(untried, available)]


async def _set_status(
    session: AsyncSession, order_id: str, status: ReservationStatus, reason: str | None
) -> None:
    await session.exec(
        sa.update(RESERVATIONS)
        .where(RESERVATIONS.c.order_id == order_id)
        .values(status=status.value, reason=reason, updated_at=now())
    )


async def reserve_stock(
    delivery: Delivery, order: OrderPlacedV1, *, ttl_seconds: float
) -> ReservationStatus | None:
    """`order.order.placed`: reserve every line or none, then stage `inventory.stock.reserved`
    or `inventory.stock.rejected` (and `inventory.stock.low` for SKUs that crossed). Returns
    the decision, or None when the order had one already (a `placed` under another event id)."""
    session, order_id, at = delivery.session, order.order_id, now()
    lines = domain.merge_lines((item.sku, item.quantity) for item in order.items)
    expires_at = at + timedelta(seconds=ttl_seconds)
    claimed = await insert_ignore(
        session,
        RESERVATIONS,
        [
            {
                "order_id": order_id,
                "status": ReservationStatus.RESERVED.value,
                "lines": [{"sku": line.sku, "quantity": line.quantity} for line in lines],
                "expires_at": expires_at,
                "created_at": at,
                "updated_at": at,
            }
        ],
    )
    if not claimed:
        log.info("order already decided; placed event ignored", order_id=order_id)
        return None
    # Sold out is the common case in a flash sale: decided on a plain read, without locks.
    shortages = domain.plan_reservation(lines, await available_of(session, [x.sku for x in lines]))
    levels: dict[str, StockLevel] = {}
    if not shortages:
        levels, shortages = await _hold(session, order_id, lines)
    if shortages:
        await _set_status(session, order_id, ReservationStatus.REJECTED, OUT_OF_STOCK)
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
    session: AsyncSession, stage: Stage, held: list[tuple[str, list[Line]]], step: domain.Step
) -> None:
    """Apply a lifecycle step to reservations whose status the caller has moved: stock and
    ledger per line (every SKU in sorted order, across orders), then one event per order."""
    reason = step.reason.value if step.reason else "ORDER_CONFIRMED"
    changes = sorted((ln.sku, order_id, ln.quantity) for order_id, lines in held for ln in lines)
    movements: list[dict[str, Any]] = []
    for sku, order_id, quantity in changes:
        delta_on_hand, delta_reserved = step.deltas(quantity)
        after = await change_stock(session, sku, delta_on_hand, delta_reserved)
        if after is None:
            raise RuntimeError(f"the stock record of {sku}, held by order {order_id}, is missing")
        movements.append(movement(sku, step.kind, delta_on_hand, delta_reserved, reason, order_id))
        signal_low(stage, sku, after.before(delta_on_hand, delta_reserved), after)
    await record(session, movements)
    for order_id, lines in held:
        payload: events.StockCommittedV1 | events.StockReleasedV1
        if step.reason is None:
            payload = events.StockCommittedV1(order_id=order_id, lines=_stock_lines(lines))
        else:
            payload = events.StockReleasedV1(
                order_id=order_id, lines=_stock_lines(lines), reason=step.reason.value
            )
        stage(payload, subject=order_id)


async def settle_reservation(delivery: Delivery, order_id: str, action: ReservationAction) -> bool:
    """`order.order.confirmed` (commit), `.rejected` (release), `.cancelled` (release, or
    restock once committed). Returns whether anything changed: a reservation that is missing
    or past this step is left alone."""
    session = delivery.session
    query = (
        select(RESERVATIONS.c.status, RESERVATIONS.c.lines, RESERVATIONS.c.reason)
        .where(RESERVATIONS.c.order_id == order_id)
        .with_for_update()  # serialises with the expiry job
    )
    row = (await session.exec(query)).first()
    if row is None:
        log.info("no reservation for this order", order_id=order_id, action=action.value)
        return False
    status, lines, reason = row
    step = domain.next_step(ReservationStatus(status), action)
    if step is None:
        if action is ReservationAction.COMMIT and reason == domain.ReleaseReason.EXPIRED:
            log.warning("order confirmed after its reservation expired", order_id=order_id)
        return False
    await _set_status(session, order_id, step.target, step.reason.value if step.reason else None)
    await _apply(session, delivery.stage, [(order_id, _lines(lines))], step)
    return True


def _correlated_stage(runtime: Runtime, session: AsyncSession) -> Stage:
    """Stage in `session`, with the subject (the order) as correlation id."""

    def stage(payload: EventPayload, *, subject: str) -> object:
        return runtime.outbox.stage(session, payload, subject=subject, correlation_id=subject)

    return stage


async def release_expired(runtime: Runtime, *, at: datetime | None = None) -> int:
    """The expiry job: release RESERVED reservations past their deadline, a batch per
    transaction; returns how many. Rows another transaction holds are skipped this round."""
    settings, at = settings_of(runtime), at or now()
    step = domain.next_step(ReservationStatus.RESERVED, ReservationAction.EXPIRE)
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
                .limit(settings.expiry_batch_size)
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
            await _apply(session, _correlated_stage(runtime, session), held, step)
        released += len(claimed)
        log.info("expired reservations released", count=len(claimed))
