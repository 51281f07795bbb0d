"""Recalls: an admin withdraws a lot for safety. Its units in the warehouse are quarantined at
once; orders that hold it and have not shipped get other lots or are cancelled
(`withdrawals`); members who received it are told (`inventory.recall.customer_affected`); the
report counts what happened to every unit."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.db import as_utc
from chassis.errors import Conflict, NotFound
from chassis.staging import Stage, session_stage
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.lots import AllocationStatus, WithdrawalReason
from inventory_service.schemas import RecallOrders, RecallReport, RecallUnits
from inventory_service.service.stock_levels import now
from inventory_service.service.withdrawals import settle_holders, withdraw_lot
from inventory_service.tables import ALLOCATIONS, LOTS, RECALLS
from shared_events import inventory as events

_RECALL_COLUMNS = (
    RECALLS.c.id,
    RECALLS.c.sku,
    RECALLS.c.lot,
    RECALLS.c.reason,
    RECALLS.c.recalled_at,
    RECALLS.c.finished_at,
)
# Shipped units of the lot still with their members and not told yet: the claim and the
# notice are one transaction, so each order is told once per recall.
_TELL = (
    sa.update(ALLOCATIONS)
    .where(
        ALLOCATIONS.c.sku == sa.bindparam("b_sku"),
        ALLOCATIONS.c.lot == sa.bindparam("b_lot"),
        ALLOCATIONS.c.status == AllocationStatus.COMMITTED.value,
        ALLOCATIONS.c.shipped_at.is_not(None),
        ALLOCATIONS.c.reason.is_(None),
    )
    .values(reason=WithdrawalReason.RECALLED.value, updated_at=sa.bindparam("at"))
    .returning(
        ALLOCATIONS.c.order_id,
        ALLOCATIONS.c.member_id,
        ALLOCATIONS.c.product_name,
        ALLOCATIONS.c.quantity,
        ALLOCATIONS.c.trace_code,
    )
)


async def recall_lot(
    runtime: InventoryRuntime, sku: str, lot: str, reason: str, recalled_by: str
) -> RecallReport:
    """Quarantine the lot and record the recall (one transaction: from its commit no order
    can take the lot), then settle the orders holding it and tell the members who have it."""
    recall_id = str(uuid.uuid4())
    at = now()
    async with runtime.database.transaction() as session:
        conn = await session.connection()
        exists = (
            await conn.execute(
                sa.select(LOTS.c.status).where(LOTS.c.sku == sku, LOTS.c.code == lot)
            )
        ).first()
        if exists is None:
            raise NotFound(f"SKU {sku} has no lot {lot}")
        if (await _recall_row(conn, sku, lot)) is not None:
            raise Conflict(f"lot {lot} of {sku} is already recalled", code="already-recalled")
        stage = session_stage(runtime.outbox, session, correlate=True)
        withdrawn = await withdraw_lot(conn, stage, sku, lot, WithdrawalReason.RECALLED)
        quarantined = withdrawn.units if withdrawn else 0
        await conn.execute(
            sa.insert(RECALLS),
            [
                {
                    "id": recall_id,
                    "sku": sku,
                    "lot": lot,
                    "reason": reason,
                    "quarantined": quarantined,
                    "recalled_by": recalled_by,
                    "recalled_at": at,
                    "finished_at": None,
                }
            ],
        )
        stage(
            events.LotRecalledV1(
                recall_id=recall_id,
                sku=sku,
                lot=lot,
                reason=reason,
                quarantined=quarantined,
                recalled_at=at,
            ),
            subject=sku,
        )
    await finish_recall(runtime, recall_id)
    return await recall_report(runtime, sku, lot)


async def finish_recall(runtime: InventoryRuntime, recall_id: str) -> None:
    """Settle the holders, tell the members, mark the recall finished. Safe to run again (the
    lot job resumes recalls a crash interrupted)."""
    async with runtime.database.sessions() as session:
        row = (
            await (await session.connection()).execute(
                sa.select(*_RECALL_COLUMNS).where(RECALLS.c.id == recall_id)
            )
        ).one()
    await settle_holders(runtime, row.sku, row.lot)
    async with runtime.database.transaction() as session:
        conn = await session.connection()
        told = (await conn.execute(_TELL, {"b_sku": row.sku, "b_lot": row.lot, "at": now()})).all()
        stage_notices(session_stage(runtime.outbox, session, correlate=True), row, told)
        await conn.execute(
            sa.update(RECALLS).where(RECALLS.c.id == recall_id).values(finished_at=now())
        )


def stage_notices(stage: Stage, recall: Any, told: Sequence[Any]) -> None:
    """One `inventory.recall.customer_affected` per order among the `told` units."""
    by_order: dict[str, list[Any]] = {}
    for allocation in told:
        by_order.setdefault(str(allocation.order_id), []).append(allocation)
    for order_id, units in sorted(by_order.items()):
        first = units[0]
        if first.member_id is None:  # committed before members were recorded
            continue
        stage(
            events.RecallCustomerAffectedV1(
                recall_id=str(recall.id),
                order_id=order_id,
                member_id=str(first.member_id),
                sku=str(recall.sku),
                product_name=str(first.product_name or recall.sku),
                lot=str(recall.lot),
                quantity=sum(int(u.quantity) for u in units),
                trace_codes=sorted(str(u.trace_code) for u in units if u.trace_code),
                reason=str(recall.reason),
                recalled_at=as_utc(recall.recalled_at),
            ),
            subject=order_id,
        )


async def unfinished_recalls(runtime: InventoryRuntime) -> list[str]:
    async with runtime.database.reads() as session:
        conn = await session.connection()
        rows = (
            await conn.execute(sa.select(RECALLS.c.id).where(RECALLS.c.finished_at.is_(None)))
        ).all()
    return [str(row[0]) for row in rows]


async def _recall_row(conn: AsyncConnection, sku: str, lot: str) -> Any | None:
    query = sa.select(*_RECALL_COLUMNS).where(RECALLS.c.sku == sku, RECALLS.c.lot == lot)
    return (await conn.execute(query)).first()


async def recall_report(runtime: InventoryRuntime, sku: str, lot: str) -> RecallReport:
    """What happened to every unit of a recalled lot."""
    async with runtime.database.snapshot() as session:
        conn = await session.connection()
        recall = await _recall_row(conn, sku, lot)
        if recall is None:
            raise NotFound(f"lot {lot} of {sku} has not been recalled")
        lot_row = (
            await conn.execute(
                sa.select(LOTS.c.received, LOTS.c.on_hand, LOTS.c.disposed).where(
                    LOTS.c.sku == sku, LOTS.c.code == lot
                )
            )
        ).one()
        allocations = (
            await conn.execute(
                sa.select(
                    ALLOCATIONS.c.order_id,
                    ALLOCATIONS.c.member_id,
                    ALLOCATIONS.c.quantity,
                    ALLOCATIONS.c.status,
                    ALLOCATIONS.c.reason,
                    ALLOCATIONS.c.shipped_at.is_not(None).label("shipped"),
                    ALLOCATIONS.c.returned_at.is_not(None).label("returned"),
                ).where(ALLOCATIONS.c.sku == sku, ALLOCATIONS.c.lot == lot)
            )
        ).all()
    recalled = WithdrawalReason.RECALLED.value

    def units(*statuses: AllocationStatus) -> list[Any]:
        wanted = {status.value for status in statuses}
        return [a for a in allocations if a.status in wanted and a.reason == recalled]

    moved, gone = units(AllocationStatus.MOVED), units(AllocationStatus.WITHDRAWN)
    told = units(AllocationStatus.COMMITTED, AllocationStatus.RELEASED)
    told = [a for a in told if a.shipped]
    return RecallReport(
        recall_id=str(recall.id),
        sku=sku,
        lot=lot,
        reason=str(recall.reason),
        recalled_at=as_utc(recall.recalled_at),
        finished=recall.finished_at is not None,
        units=RecallUnits(
            received=int(lot_row.received),
            sold=sum(int(a.quantity) for a in allocations if a.shipped),
            quarantined=int(lot_row.on_hand),
            disposed=int(lot_row.disposed),
            reallocated=sum(int(a.quantity) for a in moved),
            cancelled=sum(int(a.quantity) for a in gone),
            returned=sum(int(a.quantity) for a in allocations if a.returned),
        ),
        orders=RecallOrders(
            reallocated=sorted({str(a.order_id) for a in moved}),
            cancelled=sorted({str(a.order_id) for a in gone}),
            notified=sorted({str(a.order_id) for a in told}),
        ),
        notified_members=len({a.member_id for a in told if a.member_id}),
    )
