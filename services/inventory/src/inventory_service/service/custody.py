"""The chain of custody after the warehouse: when an order's units shipped and arrived (the
trace lookup shows it; a recall tells the members whose units had shipped)."""

from __future__ import annotations

from chassis.consumer import Delivery
from inventory_service.deps import InventoryRuntime
from inventory_service.service.allocation_rows import mark_delivered, mark_shipped
from inventory_service.service.late_shipments import reinstate_shipped, released_by_withdrawal
from inventory_service.service.reservation_rows import lock_reservation


async def record_shipped(delivery: Delivery[InventoryRuntime], order_id: str) -> None:
    """One UPDATE in the common case. When nothing committed was there to mark, the order may
    have shipped while a withdrawal released it (`late_shipments`)."""
    conn, at = await delivery.session.connection(), delivery.envelope.time
    if await mark_shipped(conn, order_id, at):
        return
    row = await lock_reservation(conn, order_id)
    if row is not None and released_by_withdrawal(row[0], row[2]):
        _, lines, reason = row
        await reinstate_shipped(conn, delivery.stage, order_id, lines, str(reason), at)


async def record_delivered(delivery: Delivery[InventoryRuntime], order_id: str) -> None:
    await mark_delivered(await delivery.session.connection(), order_id, delivery.envelope.time)
