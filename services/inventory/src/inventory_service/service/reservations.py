"""Reservations for the order saga: reserve all or nothing on `order.order.placed`, then
commit, release or restock on the order's outcome, and release what nobody confirmed in time.

A reservation row per order (the order id is its key) makes every step idempotent by state as
well as by the chassis inbox: a second `placed` for an order finds the key taken, and an
outcome that does not apply to the reservation's status changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import select

from chassis.consumer import Delivery
from chassis.logging import get_logger
from chassis.staging import Stage, session_stage
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.lots import (
    AllocationStatus,
    LotStatus,
    allocate_fefo,
    new_trace_code,
    shop_today,
)
from inventory_service.domain.reservations import (
    Line,
    ReleaseReason,
    ReservationAction,
    ReservationStatus,
    Shortage,
    Step,
    decided_before_placed,
    merge_lines,
    next_step,
    plan_reservation,
)
from inventory_service.domain.stock import MovementKind, StockLevel
from inventory_service.service import withdrawals
from inventory_service.service.allocation_moves import Move, apply_moves, stock_lines
from inventory_service.service.allocation_rows import (
    Allocation,
    active_allocations,
    allocation_change,
    insert_allocations,
    new_allocation,
    product_names,
)
from inventory_service.service.ledger import movement, write_movements
from inventory_service.service.lot_levels import change_lots, fefo_lots
from inventory_service.service.reservation_rows import (
    claim_reservation,
    lock_reservation,
    set_status,
)
from inventory_service.service.stock_levels import (
    available_of,
    change_levels,
    lock_levels,
    now,
    reserve_one,
    signal_low,
)
from inventory_service.tables import RESERVATIONS
from shared_events import inventory as events
from shared_events.order import OrderPlacedV1

log = get_logger(__name__)

OUT_OF_STOCK = "OUT_OF_STOCK"
# The reason of the reserve movements of an order confirmed after its reservation expired.
RESERVATION_RETAKEN = "RESERVATION_RETAKEN"


def _stock_lines(lines: Sequence[Line]) -> list[events.StockLine]:
    return [events.StockLine(sku=line.sku, quantity=line.quantity) for line in lines]


@dataclass(frozen=True, slots=True)
class Holder:
    """Whose units a reservation holds, and why (the movements' reason)."""

    order_id: str
    member_id: str
    names: Mapping[str, str]  # SKU -> product name, kept on the allocations for recalls
    reason: str

    @classmethod
    def placed(cls, order: OrderPlacedV1) -> Holder:
        names = {item.sku: item.name for item in order.items}
        return cls(order.order_id, order.member_id, names, "ORDER_PLACED")


async def _allocate(
    conn: AsyncConnection, holder: Holder, lines: list[Line], today: date, at: datetime
) -> list[Shortage]:
    """First expired, first out: each line's units from the sellable lots that expire first,
    the stock rows already locked by the caller. Writes the lots and the allocations, or
    nothing when a line does not fit (a lot past its date that the lot job has not withdrawn
    yet still counts in the stock row: it is never taken)."""
    lots = await fefo_lots(conn, [line.sku for line in lines], today)
    plans = {line.sku: allocate_fefo(line.quantity, lots.get(line.sku, [])) for line in lines}
    short = [
        Shortage(line.sku, line.quantity, sum(lot.free for lot in lots.get(line.sku, [])))
        for line in lines
        if plans[line.sku] is None
    ]
    if short:
        return short
    rows, lot_changes, movements = [], [], []
    for line in lines:
        for lot, units in plans[line.sku] or ():
            lot_changes.append((line.sku, lot, 0, units))
            rows.append(
                new_allocation(
                    holder.order_id,
                    line.sku,
                    lot,
                    units,
                    AllocationStatus.HELD,
                    at,
                    member_id=holder.member_id,
                    product_name=holder.names.get(line.sku),
                )
            )
            movements.append(
                movement(
                    line.sku,
                    MovementKind.RESERVE,
                    0,
                    units,
                    holder.reason,
                    holder.order_id,
                    lot=lot,
                )
            )
    await change_lots(conn, lot_changes, at)
    await insert_allocations(conn, rows)
    await write_movements(conn, movements)
    return []


async def _hold(
    conn: AsyncConnection, holder: Holder, lines: list[Line], today: date, at: datetime
) -> tuple[dict[str, StockLevel], list[Shortage]]:
    """Reserve every line or none, from the lots that expire first. Returns the levels after,
    or the short lines.

    One line is one conditional UPDATE (applied only if enough is available when the row is
    written; a locked read tells a shortage from a release meanwhile). Several lines are one
    read of their rows locked in SKU order (one global order, so two reservations never wait
    on each other in a cycle), the all-or-none decision on those locked levels, then one
    executemany UPDATE; nothing is written unless every line fits, and the CHECK constraints
    back the rule up. With the stock rows locked, the lots are allocated (`_allocate`)."""
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
    short = await _allocate(conn, holder, lines, today, at)
    if short:  # give the stock rows back: nothing was allocated
        await change_levels(conn, [(line.sku, 0, -line.quantity) for line in lines])
        return {}, short
    return held, []


async def reserve_stock(
    delivery: Delivery[InventoryRuntime], order: OrderPlacedV1, *, ttl_seconds: float, today: date
) -> ReservationStatus | None:
    """`order.order.placed`: reserve every line or none, then stage `inventory.stock.reserved`
    or `inventory.stock.rejected` (and `inventory.stock.low` for SKUs that crossed). Returns
    the decision, or None when the order had one already (a `placed` under another event id)."""
    conn, order_id, at = await delivery.session.connection(), order.order_id, now()
    lines = merge_lines((item.sku, item.quantity) for item in order.items)
    expires_at = at + timedelta(seconds=ttl_seconds)
    claimed = await claim_reservation(
        conn,
        order_id,
        member_id=order.member_id,
        status=ReservationStatus.RESERVED.value,
        lines=[{"sku": line.sku, "quantity": line.quantity} for line in lines],
        reason=None,
        expires_at=expires_at,
        at=at,
    )
    if not claimed:
        log.info("order already decided; placed event ignored", order_id=order_id)
        return None
    # Sold out is the common case in a flash sale: decided on a plain read, without locks.
    shortages = plan_reservation(lines, await available_of(conn, [x.sku for x in lines]))
    levels: dict[str, StockLevel] = {}
    if not shortages:
        levels, shortages = await _hold(conn, Holder.placed(order), lines, today, at)
    if shortages:
        await _reject(conn, delivery.stage, order_id, shortages)
        return ReservationStatus.REJECTED
    delivery.stage(
        events.StockReservedV1(order_id=order_id, lines=_stock_lines(lines), expires_at=expires_at),
        subject=order_id,
    )
    for line in lines:
        after = levels[line.sku]
        signal_low(delivery.stage, line.sku, after.before(0, line.quantity), after)
    return ReservationStatus.RESERVED


def _committed_events(
    order_id: str, committed: Sequence[tuple[Allocation, str]]
) -> tuple[events.StockCommittedV2, events.StockCommittedV1]:
    """The commit in both versions: v2 with each line's lots and trace codes, v1 as before."""
    by_sku: dict[str, list[events.LotAllocation]] = {}
    for allocation, trace_code in committed:
        by_sku.setdefault(allocation.sku, []).append(
            events.LotAllocation(
                lot=allocation.lot, quantity=allocation.quantity, trace_code=trace_code
            )
        )
    lines = [
        events.CommittedLine(sku=sku, quantity=sum(a.quantity for a in taken), allocations=taken)
        for sku, taken in sorted(by_sku.items())
    ]
    v1 = [events.StockLine(sku=line.sku, quantity=line.quantity) for line in lines]
    return (
        events.StockCommittedV2(order_id=order_id, lines=lines),
        events.StockCommittedV1(order_id=order_id, lines=v1),
    )


async def _apply(
    conn: AsyncConnection,
    stage: Stage,
    held: dict[str, list[Allocation]],
    step: Step,
    *,
    action: ReservationAction,
    publish_committed_v1: bool,
    locked: dict[str, StockLevel] | None = None,
) -> None:
    """Apply a lifecycle step to reservations whose status the caller has moved, allocation by
    allocation (`apply_moves`), then one event per order."""
    at = now()
    reason = step.reason.value if step.reason else "ORDER_CONFIRMED"
    commit = step.target is ReservationStatus.COMMITTED
    moves: list[Move] = []
    committed: dict[str, list[tuple[Allocation, str]]] = {}
    for order_id, allocations in held.items():
        for allocation in allocations:
            trace_code = new_trace_code() if commit else None
            if trace_code is not None:
                committed.setdefault(order_id, []).append((allocation, trace_code))
            change = allocation_change(
                allocation.id,
                AllocationStatus.COMMITTED if commit else AllocationStatus.RELEASED,
                at,
                trace_code=trace_code,
                committed=commit,
                returned=action is ReservationAction.RETURN,
                reason=step.reason.value if step.reason else None,
            )
            moves.append(
                Move(allocation, *step.deltas(allocation.quantity), change, step.kind, reason)
            )
    await apply_moves(conn, stage, moves, at, locked=locked)
    for order_id, allocations in held.items():
        if commit:
            v2, v1 = _committed_events(order_id, committed.get(order_id, []))
            stage(v2, subject=order_id, older=[v1] if publish_committed_v1 else [])
        else:
            released = events.StockReleasedV1(
                order_id=order_id, lines=stock_lines(allocations), reason=reason
            )
            stage(released, subject=order_id)


async def settle_reservation(
    delivery: Delivery[InventoryRuntime],
    order_id: str,
    action: ReservationAction,
    *,
    member_id: str,
) -> bool:
    """`order.order.confirmed` (commit), `.rejected` (release), `.cancelled` (release, or
    restock once committed), `.returned` (restock). Returns whether anything changed: a
    reservation past this step is left alone. A cancellation or rejection of an order not
    seen yet is recorded as released with nothing held (`decided_before_placed`). A commit that
    finds units in a lot withdrawn meanwhile replaces them from other lots first, or releases
    the order (`withdrawals.replace_withdrawn`): no unit of a withdrawn lot is ever committed."""
    conn = await delivery.session.connection()
    row = await lock_reservation(conn, order_id)
    if row is None:
        return await _record_decided_before_placed(conn, order_id, member_id, action)
    status, lines, reason = row
    settings = delivery.runtime.settings
    step = next_step(ReservationStatus(status), action)
    if step is None and action is ReservationAction.COMMIT and reason == ReleaseReason.EXPIRED:
        today = shop_today(settings.shop_zone, now())
        if not await _retake_expired(conn, delivery.stage, order_id, member_id, lines, today):
            return False
        status, step = (
            ReservationStatus.RESERVED.value,
            next_step(ReservationStatus.RESERVED, action),
        )
    if step is None:
        return False
    # The order's stock rows are locked before its allocations are read, as every lot writer
    # locks them first: a lot withdrawn by a concurrent recall is then seen withdrawn, never
    # committed or released as if it were still on sale.
    # Two statements on purpose: one SELECT ... JOIN ... FOR UPDATE OF stock would re-check a
    # row it waited for against the other tables' rows of its own snapshot (PostgreSQL's
    # EvalPlanQual), i.e. read the lot's status from before the recall.
    locked: dict[str, StockLevel] | None = await lock_levels(conn, [ln["sku"] for ln in lines])
    held = await active_allocations(conn, [order_id])
    if action is ReservationAction.COMMIT:
        today = shop_today(settings.shop_zone, now())
        # A lot that expired since the reservation, not withdrawn by the lot job yet.
        if await withdrawals.expire_held_lots(conn, delivery.stage, held.get(order_id, []), today):
            held, locked = await active_allocations(conn, [order_id]), None
    if action is ReservationAction.COMMIT and any(
        a.lot_status is not LotStatus.SELLABLE for a in held.get(order_id, [])
    ):
        kept = await withdrawals.replace_withdrawn(
            conn, delivery.stage, order_id, ReservationStatus(status), held[order_id], today
        )
        if not kept:
            return True  # released: nothing of this order is committed
        held, locked = await active_allocations(conn, [order_id]), None  # stock changed
    await set_status(conn, order_id, step.target.value, step.reason.value if step.reason else None)
    await _apply(
        conn,
        delivery.stage,
        {order_id: held.get(order_id, [])},
        step,
        action=action,
        publish_committed_v1=settings.publish_committed_v1,
        locked=locked,
    )
    return True


async def _retake_expired(
    conn: AsyncConnection,
    stage: Stage,
    order_id: str,
    member_id: str,
    lines: Sequence[dict[str, Any]],
    today: date,
) -> bool:
    """An order confirmed after its reservation expired (the confirmation held up longer than
    the TTL: the broker or the order service down): its units are reserved again, all or none,
    so that the commit that follows takes them. Returns False when some are no longer there
    (sold to someone else meanwhile): nothing is committed, the reservation is rejected and
    `inventory.stock.rejected` tells the order service, which cancels the confirmed order (its
    payment is refunded or voided like any cancellation's)."""
    wanted = merge_lines((line["sku"], line["quantity"]) for line in lines)
    names = await product_names(conn, order_id)  # kept for recall notices, as at `placed`
    holder = Holder(order_id, member_id, names, RESERVATION_RETAKEN)
    levels, short = await _hold(conn, holder, wanted, today, now())
    if short:
        await _reject(conn, stage, order_id, short)
        log.warning(
            "order confirmed after its reservation expired, and its units were sold meanwhile;"
            " nothing committed, the order is told its stock is short",
            order_id=order_id,
            short=[s.sku for s in short],
        )
        return False
    await set_status(conn, order_id, ReservationStatus.RESERVED.value, None)
    for line in wanted:
        after = levels[line.sku]
        signal_low(stage, line.sku, after.before(0, line.quantity), after)
    log.warning(
        "order confirmed after its reservation expired; its units reserved again", order_id=order_id
    )
    return True


async def _reject(
    conn: AsyncConnection, stage: Stage, order_id: str, shortages: Sequence[Shortage]
) -> None:
    """The order's reservation rejected for its short lines, and `inventory.stock.rejected`."""
    await set_status(conn, order_id, ReservationStatus.REJECTED.value, OUT_OF_STOCK)
    short = [
        events.ShortLine(sku=s.sku, requested=s.requested, available=s.available) for s in shortages
    ]
    stage(events.StockRejectedV1(order_id=order_id, short=short), subject=order_id)


async def _record_decided_before_placed(
    conn: AsyncConnection, order_id: str, member_id: str, action: ReservationAction
) -> bool:
    reason = decided_before_placed(action)
    if reason is None:
        log.info("no reservation for this order", order_id=order_id, action=action.value)
        return False
    at = now()
    claimed = await claim_reservation(
        conn,
        order_id,
        member_id=member_id,
        status=ReservationStatus.RELEASED.value,
        lines=[],
        reason=reason.value,
        expires_at=at,
        at=at,
    )
    if claimed:
        log.warning(
            "order decided before it was placed here; nothing will be reserved",
            order_id=order_id,
            action=action.value,
        )
    return claimed


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
            conn = await session.connection()
            # Stock rows before allocations, as in `settle_reservation`.
            locked = await lock_levels(conn, [ln["sku"] for _, lines in claimed for ln in lines])
            held = await active_allocations(conn, [order_id for order_id, _ in claimed])
            await _apply(
                conn,
                session_stage(runtime.outbox, session, correlate=True),
                {order_id: held.get(order_id, []) for order_id, _ in claimed},
                step,
                action=ReservationAction.EXPIRE,
                publish_committed_v1=runtime.settings.publish_committed_v1,
                locked=locked,
            )
        released += len(claimed)
        log.info("expired reservations released", count=len(claimed))
