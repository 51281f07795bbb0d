"""Disposing of a lot out of sale: units of an expired or recalled lot destroyed or sent back
to the supplier leave the lot for good (`inventory.lot.disposed`). The SKU's stock does not
change: the units left it when the lot left sale."""

from __future__ import annotations

from chassis.errors import ConcurrentChange
from chassis.staging import session_stage
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.lots import units_to_dispose
from inventory_service.domain.stock import MovementKind
from inventory_service.schemas import DisposalCreate, LotAdmin
from inventory_service.service.ledger import movement, write_movements
from inventory_service.service.lot_levels import dispose_units
from inventory_service.service.lots import get_lot_in
from inventory_service.service.stock_levels import lock_levels, now
from shared_events import inventory as events


async def dispose_of_lot(
    runtime: InventoryRuntime, sku: str, lot: str, data: DisposalCreate
) -> LotAdmin:
    """Take units out of a lot out of sale (all that no order holds, or `data.quantity`), with
    a DISPOSE movement in the ledger; answers the lot."""
    async with runtime.database.transaction() as session:
        conn = await session.connection()
        # Every lot writer locks its SKU's stock row first (service/lot_levels.py).
        await lock_levels(conn, [sku])
        current = await get_lot_in(conn, sku, lot)
        quantity = units_to_dispose(
            current.status, current.on_hand, current.reserved, data.quantity
        )
        disposed = await dispose_units(conn, sku, lot, quantity)
        if disposed is None:
            raise ConcurrentChange("the lot changed meanwhile; try again")
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
