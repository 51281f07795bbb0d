"""Disposing of a lot out of sale: units of an expired or recalled lot destroyed or sent back
to the supplier leave the lot for good (`inventory.lot.disposed`). The SKU's stock does not
change: the units left it when the lot left sale."""

from __future__ import annotations

import sqlalchemy as sa

from chassis.errors import Conflict, NotFound
from chassis.staging import session_stage
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.lots import units_to_dispose
from inventory_service.domain.stock import MovementKind, StockRuleError
from inventory_service.schemas import DisposalCreate, LotAdmin
from inventory_service.service.ledger import movement, write_movements
from inventory_service.service.lot_levels import dispose_units
from inventory_service.service.lots import get_lot_in
from inventory_service.service.stock_levels import lock_levels, now
from inventory_service.tables import LOTS
from shared_events import inventory as events

_LOT = sa.select(LOTS.c.status, LOTS.c.on_hand, LOTS.c.reserved).where(
    LOTS.c.sku == sa.bindparam("sku"), LOTS.c.code == sa.bindparam("lot")
)


async def dispose_of_lot(
    runtime: InventoryRuntime, sku: str, lot: str, data: DisposalCreate
) -> LotAdmin:
    """Take units out of a lot out of sale (all that no order holds, or `data.quantity`), with
    a DISPOSE movement in the ledger; answers the lot."""
    async with runtime.database.transaction() as session:
        conn = await session.connection()
        # Every lot writer locks its SKU's stock row first (service/lot_levels.py).
        await lock_levels(conn, [sku])
        row = (await conn.execute(_LOT, {"sku": sku, "lot": lot})).first()
        if row is None:
            raise NotFound(f"SKU {sku} has no lot {lot}")
        try:
            quantity = units_to_dispose(row.status, row.on_hand, row.reserved, data.quantity)
        except StockRuleError as refusal:
            # A ProblemError, so that the Idempotency-Key store keeps the refusal.
            raise Conflict(refusal.detail, code=refusal.code) from None
        disposed = await dispose_units(conn, sku, lot, quantity)
        if disposed is None:
            raise Conflict("the lot changed meanwhile; try again", code="concurrent-change")
        await write_movements(
            conn, [movement(sku, MovementKind.DISPOSE, -quantity, 0, data.reason, lot=lot)]
        )
        session_stage(runtime.outbox, session, correlate=True)(
            events.LotDisposedV1(
                sku=sku,
                lot=lot,
                quantity=quantity,
                disposed=disposed,
                reason=data.reason,
                disposed_at=now(),
            ),
            subject=sku,
        )
        return await get_lot_in(conn, sku, lot)
