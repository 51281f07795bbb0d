"""Taking a lot out of sale (it expired, or an admin recalled it) and what that does to the
orders holding its units.

Two phases, each crash-safe. First, in one transaction, the lot leaves sale: its status
changes and its units leave its SKU's stock row, so no new order can take them from that
commit on. Then each order still holding units of it (not shipped) is settled in its own
transaction, under its reservation's lock: its units come from other lots, first expired
first out (`inventory.stock.reallocated`), or, when the other lots cannot give them, its
reservation is released and the order must be cancelled (`inventory.stock.withdrawn`). The
second phase is idempotent (an order with nothing left in a withdrawn lot is skipped), so the
lot job can run it again after a crash.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.locks import hold_write_lock, is_deadlock
from chassis.logging import get_logger
from chassis.staging import Stage, session_stage
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.lots import (
    AllocationStatus,
    LotStatus,
    WithdrawalReason,
    allocate_fefo,
    is_expired,
    new_trace_code,
    shop_today,
)
from inventory_service.domain.reservations import ReservationStatus
from inventory_service.domain.stock import MovementKind
from inventory_service.service.allocation_moves import Move, apply_moves, stock_lines
from inventory_service.service.allocation_rows import (
    Allocation,
    active_allocations,
    allocation_change,
    insert_allocations,
    new_allocation,
    set_allocations,
)
from inventory_service.service.ledger import movement, write_movements
from inventory_service.service.lot_levels import LotChange, change_lots, fefo_lots
from inventory_service.service.reservation_rows import lock_reservation, set_status
from inventory_service.service.stock_levels import change_levels, lock_levels, now, signal_low
from inventory_service.tables import ALLOCATIONS, LOTS
from shared_events import inventory as events

_LOCK_LOT = (
    sa.select(LOTS.c.status, LOTS.c.on_hand, LOTS.c.reserved, LOTS.c.expiry_date)
    .where(LOTS.c.sku == sa.bindparam("sku"), LOTS.c.code == sa.bindparam("lot"))
    .with_for_update()
)
_SET_LOT_STATUS = (
    sa.update(LOTS)
    .where(LOTS.c.sku == sa.bindparam("b_sku"), LOTS.c.code == sa.bindparam("b_lot"))
    .values(
        status=sa.bindparam("status"),
        withdrawn_at=sa.func.coalesce(LOTS.c.withdrawn_at, sa.bindparam("at")),
        updated_at=sa.bindparam("at"),
    )
)
_HOLDERS = (
    sa.select(ALLOCATIONS.c.order_id)
    .where(
        ALLOCATIONS.c.sku == sa.bindparam("sku"),
        ALLOCATIONS.c.lot == sa.bindparam("lot"),
        ALLOCATIONS.c.status.in_([AllocationStatus.HELD.value, AllocationStatus.COMMITTED.value]),
        ALLOCATIONS.c.shipped_at.is_(None),
    )
    .distinct()
    .order_by(ALLOCATIONS.c.order_id)
)

log = get_logger(__name__)

DEADLOCK_TRIES = 3

_STATUS_FOR = {
    WithdrawalReason.RECALLED: LotStatus.QUARANTINED,
    WithdrawalReason.LOT_EXPIRED: LotStatus.EXPIRED,
}


@dataclass(frozen=True, slots=True)
class WithdrawnLot:
    sku: str
    lot: str
    units: int  # in the warehouse when it left sale
    expiry_date: date | None


def reason_of(lot_status: LotStatus) -> WithdrawalReason:
    return (
        WithdrawalReason.RECALLED
        if lot_status is LotStatus.QUARANTINED
        else WithdrawalReason.LOT_EXPIRED
    )


async def withdraw_lot(
    conn: AsyncConnection, stage: Stage, sku: str, lot: str, reason: WithdrawalReason
) -> WithdrawnLot | None:
    """Phase one: the lot leaves sale (its SKU's stock row locked first, as every lot writer
    does). None when the lot is unknown or already has that status. A recall of an expired
    lot quarantines it (its units were out of sale already)."""
    await lock_levels(conn, [sku])
    row = (await conn.execute(_LOCK_LOT, {"sku": sku, "lot": lot})).first()
    target = _STATUS_FOR[reason]
    if row is None or row[0] == target.value:
        return None
    status, on_hand, reserved, expiry_date = row[0], int(row[1]), int(row[2]), row[3]
    at = now()
    await conn.execute(
        _SET_LOT_STATUS, {"b_sku": sku, "b_lot": lot, "status": target.value, "at": at}
    )
    if status == LotStatus.SELLABLE.value and (on_hand or reserved):
        [(before, after)] = await change_levels(conn, [(sku, -on_hand, -reserved)])
        signal_low(stage, sku, before, after)
        withdrawal = movement(
            sku, MovementKind.WITHDRAW, -on_hand, -reserved, reason.value, lot=lot
        )
        await write_movements(conn, [withdrawal])
    return WithdrawnLot(sku, lot, on_hand, expiry_date)


async def expire_lot(conn: AsyncConnection, stage: Stage, sku: str, lot: str) -> bool:
    """Withdraw a lot past its expiry date and announce it (`inventory.lot.expired`).
    Returns whether it was withdrawn now (False when it was already)."""
    withdrawn = await withdraw_lot(conn, stage, sku, lot, WithdrawalReason.LOT_EXPIRED)
    if withdrawn is None or withdrawn.expiry_date is None:
        return False
    expired = events.LotExpiredV1(
        sku=sku, lot=lot, expiry_date=withdrawn.expiry_date, withdrawn=withdrawn.units
    )
    stage(expired, subject=sku)
    return True


async def expire_held_lots(
    conn: AsyncConnection, stage: Stage, allocations: Sequence[Allocation], today: date
) -> bool:
    """Withdraw the lots among `allocations` that passed their expiry date before the lot job
    got to them (a confirmation after midnight). Returns whether any was withdrawn."""
    due = sorted(
        {(a.sku, a.lot) for a in allocations if a.sellable and is_expired(a.lot_expiry_date, today)}
    )
    withdrawn = False
    for sku, lot in due:
        withdrawn = await expire_lot(conn, stage, sku, lot) or withdrawn
    return withdrawn


async def holders_of(conn: AsyncConnection, sku: str, lot: str) -> list[str]:
    """Orders holding units of the lot that have not shipped."""
    rows = (await conn.execute(_HOLDERS, {"sku": sku, "lot": lot})).all()
    return [row[0] for row in rows]


def _staged_reallocations(
    stage: Stage,
    order_id: str,
    lost: Sequence[Allocation],
    taken: dict[str, list[tuple[str, int, str | None]]],
    reason: WithdrawalReason,
) -> None:
    by_lot: dict[tuple[str, str], int] = {}
    for allocation in lost:
        key = (allocation.sku, allocation.lot)
        by_lot[key] = by_lot.get(key, 0) + allocation.quantity
    for (sku, from_lot), quantity in sorted(by_lot.items()):
        allocations = [
            events.LotAllocation(lot=lot, quantity=units, trace_code=code)
            for lot, units, code in taken[sku]
        ]
        stage(
            events.StockReallocatedV1(
                order_id=order_id,
                sku=sku,
                from_lot=from_lot,
                quantity=quantity,
                allocations=allocations,
                reason=reason.value,
            ),
            subject=order_id,
        )


async def replace_withdrawn(
    conn: AsyncConnection,
    stage: Stage,
    order_id: str,
    status: ReservationStatus,
    allocations: Sequence[Allocation],
    today: date,
) -> bool:
    """Phase two for one order, its reservation locked by the caller: replace the units it
    holds in withdrawn lots (not shipped) from other lots, first expired first out, or, when
    any SKU cannot be replaced, release the whole reservation. Returns whether the order keeps
    its units."""
    lost = [a for a in allocations if not a.sellable and not a.shipped]
    if not lost:
        return True
    reason = reason_of(lost[0].lot_status)
    need: dict[str, int] = {}
    for allocation in lost:
        need[allocation.sku] = need.get(allocation.sku, 0) + allocation.quantity
    skus = sorted(need)
    levels = await lock_levels(conn, skus)
    lots = await fefo_lots(conn, skus, today)
    plans = {
        sku: allocate_fefo(quantity, lots.get(sku, []))
        if sku in levels and levels[sku].available >= quantity
        else None
        for sku, quantity in need.items()
    }
    at = now()
    if any(plan is None for plan in plans.values()):
        await _release(conn, stage, order_id, status, allocations, lost, reason, at)
        return False
    committed = status is ReservationStatus.COMMITTED
    # Held units move as reservations, committed ones as units that left the shelf.
    stock = [(sku, -need[sku], 0) if committed else (sku, 0, need[sku]) for sku in skus]
    for (sku, _, _), (before, after) in zip(stock, await change_levels(conn, stock), strict=True):
        signal_low(stage, sku, before, after)
    lot_changes: list[LotChange] = []
    movements: list[dict[str, Any]] = []
    for allocation in lost:
        back = (allocation.quantity, 0) if committed else (0, -allocation.quantity)
        lot_changes.append((allocation.sku, allocation.lot, *back))
        movements.append(
            movement(
                allocation.sku,
                MovementKind.REALLOCATE,
                *back,
                reason.value,
                order_id,
                lot=allocation.lot,
            )
        )
    first = {a.sku: a for a in lost}
    rows: list[dict[str, Any]] = []
    taken: dict[str, list[tuple[str, int, str | None]]] = {}
    for sku, plan in plans.items():
        for lot, units in plan or ():
            take = (-units, 0) if committed else (0, units)
            lot_changes.append((sku, lot, *take))
            movements.append(
                movement(sku, MovementKind.REALLOCATE, *take, reason.value, order_id, lot=lot)
            )
            code = new_trace_code() if committed else None
            taken.setdefault(sku, []).append((lot, units, code))
            rows.append(
                new_allocation(
                    order_id,
                    sku,
                    lot,
                    units,
                    AllocationStatus.COMMITTED if committed else AllocationStatus.HELD,
                    at,
                    member_id=first[sku].member_id,
                    product_name=first[sku].product_name,
                    trace_code=code,
                )
            )
    await change_lots(conn, sorted(lot_changes), at)
    await set_allocations(
        conn,
        [allocation_change(a.id, AllocationStatus.MOVED, at, reason=reason.value) for a in lost],
    )
    await insert_allocations(conn, rows)
    await write_movements(conn, movements)
    _staged_reallocations(stage, order_id, lost, taken, reason)
    return True


async def _release(
    conn: AsyncConnection,
    stage: Stage,
    order_id: str,
    status: ReservationStatus,
    allocations: Sequence[Allocation],
    lost: Sequence[Allocation],
    reason: WithdrawalReason,
    at: datetime,
) -> None:
    """The order cannot keep its units: every allocation goes back to its lot (a withdrawn
    lot's units stay out of sale), the reservation is RELEASED with the withdrawal's reason,
    and the order is told to cancel."""
    committed = status is ReservationStatus.COMMITTED
    lost_ids = {a.id for a in lost}
    moves = [
        Move(
            allocation,
            *((allocation.quantity, 0) if committed else (0, -allocation.quantity)),
            allocation_change(
                allocation.id,
                AllocationStatus.WITHDRAWN
                if allocation.id in lost_ids
                else AllocationStatus.RELEASED,
                at,
                reason=reason.value,
            ),
            MovementKind.RELEASE,
            reason.value,
        )
        for allocation in allocations
    ]
    await apply_moves(conn, stage, moves, at)
    await set_status(conn, order_id, ReservationStatus.RELEASED.value, reason.value)
    stage(
        events.StockReleasedV1(
            order_id=order_id, lines=stock_lines(allocations), reason=reason.value
        ),
        subject=order_id,
    )
    for allocation in lost:
        stage(
            events.StockWithdrawnV1(
                order_id=order_id,
                sku=allocation.sku,
                lot=allocation.lot,
                quantity=allocation.quantity,
                reason=reason.value,
            ),
            subject=order_id,
        )


async def settle_holders(runtime: InventoryRuntime, sku: str, lot: str) -> int:
    """Phase two for every order holding units of the withdrawn lot, one transaction per
    order. Returns how many orders were settled (re-allocated or released)."""
    async with runtime.database.sessions() as session:
        order_ids = await holders_of(await session.connection(), sku, lot)
    settled = 0
    for order_id in order_ids:
        for attempt in range(1, DEADLOCK_TRIES + 1):
            try:
                settled += await _settle_holder(runtime, order_id)
                break
            except DBAPIError as error:
                # A consumer's batch locks stock and reservations record by record, in no
                # order a job can share: PostgreSQL breaks the rare cycle by aborting one side.
                if not is_deadlock(error) or attempt == DEADLOCK_TRIES:
                    raise
                log.info("deadlock settling a holder, trying again", order_id=order_id)
    return settled


async def _settle_holder(runtime: InventoryRuntime, order_id: str) -> int:
    """One order's phase two in its own transaction: 1 when it was settled, else 0. Locks in
    the order `settle_reservation` takes them (the reservation, then its SKUs' stock rows), and
    the allocations are read only after both, as every lot writer reads them: a sibling lot
    withdrawn by a concurrent recall is then seen withdrawn, never released as if it were still
    on sale."""
    async with runtime.database.transaction() as session:
        conn = await session.connection()
        await hold_write_lock(conn)  # SQLite: the reservation is read under the write lock too
        row = await lock_reservation(conn, order_id)
        if row is None:
            return 0
        await lock_levels(conn, [line["sku"] for line in row[1]])
        held = (await active_allocations(conn, [order_id])).get(order_id, [])
        if not any(not a.sellable and not a.shipped for a in held):
            return 0
        await replace_withdrawn(
            conn,
            session_stage(runtime.outbox, session, correlate=True),
            order_id,
            ReservationStatus(row[0]),
            held,
            shop_today(runtime.settings.shop_zone, now()),
        )
        return 1
