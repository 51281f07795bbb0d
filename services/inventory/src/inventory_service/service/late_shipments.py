"""An order that shipped while a withdrawal released it.

The order service decides shipping; inventory learns of it from `order.order.shipped`. If a
recall (or an expiry) settles an order in the moment between its shipment and inventory
reading that event, inventory takes the order for unshipped: it releases the order's units
(back to their lots) and asks for a cancellation that the order service, rightly, ignores.
When the shipment then arrives, the units are put back where they really are, out of the
warehouse: the order's released allocations are committed and shipped again, its reservation
is COMMITTED, and for a recall the member is told like every member who received the lot.
Units that other orders took meanwhile, or that a disposal of the lot counted as destroyed,
cannot be taken back: those are logged for a stock take.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.logging import get_logger
from chassis.staging import Stage
from inventory_service.domain.lots import AllocationStatus, LotStatus, WithdrawalReason
from inventory_service.domain.reservations import ReservationStatus
from inventory_service.domain.stock import MovementKind
from inventory_service.service.ledger import movement, write_movements
from inventory_service.service.lot_levels import change_lots
from inventory_service.service.recalls import stage_notices
from inventory_service.service.reservation_rows import set_status
from inventory_service.service.stock_levels import change_levels, lock_levels
from inventory_service.tables import ALLOCATIONS, LOTS, RECALLS

log = get_logger(__name__)

_WITHDRAWALS = {reason.value for reason in WithdrawalReason}
_RELEASED_BY = (
    sa.select(
        ALLOCATIONS.c.id,
        ALLOCATIONS.c.order_id,
        ALLOCATIONS.c.sku,
        ALLOCATIONS.c.lot,
        ALLOCATIONS.c.quantity,
        ALLOCATIONS.c.status,
        ALLOCATIONS.c.trace_code,
        ALLOCATIONS.c.member_id,
        ALLOCATIONS.c.product_name,
        LOTS.c.status.label("lot_status"),
        LOTS.c.on_hand.label("lot_on_hand"),
        LOTS.c.reserved.label("lot_reserved"),
    )
    .join(LOTS, (LOTS.c.sku == ALLOCATIONS.c.sku) & (LOTS.c.code == ALLOCATIONS.c.lot))
    .where(
        ALLOCATIONS.c.order_id == sa.bindparam("order_id"),
        ALLOCATIONS.c.status.in_(
            [AllocationStatus.RELEASED.value, AllocationStatus.WITHDRAWN.value]
        ),
        ALLOCATIONS.c.reason == sa.bindparam("reason"),
    )
    .order_by(ALLOCATIONS.c.sku, ALLOCATIONS.c.lot)
)
_SHIP_AGAIN = (
    sa.update(ALLOCATIONS)
    .where(ALLOCATIONS.c.id == sa.bindparam("b_id"))
    .values(
        status=AllocationStatus.COMMITTED.value,
        shipped_at=sa.bindparam("at"),
        updated_at=sa.bindparam("at"),
    )
)


def released_by_withdrawal(status: str, reason: str | None) -> bool:
    return status == ReservationStatus.RELEASED.value and reason in _WITHDRAWALS


async def reinstate_shipped(
    conn: AsyncConnection,
    stage: Stage,
    order_id: str,
    lines: Sequence[dict[str, Any]],
    reason: str,
    at: datetime,
) -> None:
    """The order shipped although a withdrawal released it (its reservation locked by the
    caller): take its units out of the lots again and tell the member about a recall."""
    levels = await lock_levels(conn, [line["sku"] for line in lines])
    rows = (await conn.execute(_RELEASED_BY, {"order_id": order_id, "reason": reason})).all()
    stock: list[tuple[str, int, int]] = []
    lot_changes: list[tuple[str, str, int, int]] = []
    movements: list[dict[str, Any]] = []
    shipped: list[Any] = []
    # What the lots and the SKUs can still give, lowered as this order's rows take from them.
    free = {(row.sku, row.lot): row.lot_on_hand - row.lot_reserved for row in rows}
    available = {code: level.available for code, level in levels.items()}
    for row in rows:
        quantity = int(row.quantity)
        sellable = row.lot_status == LotStatus.SELLABLE.value
        if free[row.sku, row.lot] < quantity or (sellable and available.get(row.sku, 0) < quantity):
            # Sold again, or disposed of, meanwhile: the books hold fewer units than they say.
            log.warning(
                "shipped units are no longer in their lot (sold again or disposed of after a "
                "withdrawal); count the stock",
                order_id=order_id,
                sku=row.sku,
                lot=row.lot,
                units=quantity,
            )
        else:
            free[row.sku, row.lot] -= quantity
            lot_changes.append((row.sku, row.lot, -quantity, 0))
            if sellable:
                available[row.sku] -= quantity
                stock.append((row.sku, -quantity, 0))
            # The ledger moves only the units taken out of the lot: its rows add up to the lot.
            movements.append(
                movement(
                    row.sku, MovementKind.COMMIT, -quantity, 0, "SHIPPED", order_id, lot=row.lot
                )
            )
        shipped.append(row)
    if stock:
        await change_levels(conn, sorted(stock), locked=levels)
    await change_lots(conn, sorted(lot_changes), at)
    if shipped:
        await conn.execute(_SHIP_AGAIN, [{"b_id": row.id, "at": at} for row in shipped])
    await write_movements(conn, movements)
    await set_status(conn, order_id, ReservationStatus.COMMITTED.value, None)
    log.warning(
        "order shipped after a withdrawal released it; units put back out", order_id=order_id
    )
    if reason == WithdrawalReason.RECALLED.value:
        await _tell(conn, stage, [row for row in shipped if row.status == "WITHDRAWN"])


async def _tell(conn: AsyncConnection, stage: Stage, withdrawn: Sequence[Any]) -> None:
    """The recall notice for the recalled lots' units the member has after all."""
    for sku, lot in sorted({(row.sku, row.lot) for row in withdrawn}):
        query = sa.select(RECALLS).where(RECALLS.c.sku == sku, RECALLS.c.lot == lot)
        recall = (await conn.execute(query)).first()
        if recall is not None:
            units = [row for row in withdrawn if (row.sku, row.lot) == (sku, lot)]
            stage_notices(stage, recall, units)
