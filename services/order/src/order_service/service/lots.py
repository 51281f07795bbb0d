"""The order's side of inventory's lots: which lots each line took (with the trace codes the
customer can look up), re-allocations away from a withdrawn lot, and recall notices. Each runs
in the transaction the chassis opened for the event."""

from __future__ import annotations

import sqlalchemy as sa

from chassis.consumer import Delivery
from order_service.deps import OrderRuntime
from order_service.service.saga import extend_timeline
from order_service.tables import ALLOCATIONS, ORDERS
from shared_events.inventory import (
    LotAllocation,
    RecallCustomerAffectedV1,
    StockCommittedV2,
    StockReallocatedV1,
)

# Prebuilt: the commit is on every order's path.
_INSERT_ALLOCATIONS = sa.insert(ALLOCATIONS)
_DELETE_LOT = sa.delete(ALLOCATIONS).where(
    ALLOCATIONS.c.order_id == sa.bindparam("order_id"),
    ALLOCATIONS.c.sku == sa.bindparam("sku"),
    ALLOCATIONS.c.lot == sa.bindparam("lot"),
)
_MARK_RECALLED = (
    sa.update(ORDERS)
    .where(ORDERS.c.id == sa.bindparam("order_id"), ORDERS.c.recalled_at.is_(None))
    .values(recalled_at=sa.bindparam("recalled_at"))
)


def _rows(order_id: str, sku: str, allocations: list[LotAllocation]) -> list[dict[str, object]]:
    return [
        {
            "order_id": order_id,
            "sku": sku,
            "lot": a.lot,
            "quantity": a.quantity,
            "trace_code": a.trace_code,
        }
        for a in allocations
    ]


async def record_commit(delivery: Delivery[OrderRuntime], event: StockCommittedV2) -> None:
    """The saga only notes the commit on the timeline; the lines' allocations are kept with
    their trace codes, all in one INSERT. A v1 commit upcast to v2 names no lots: nothing to
    keep, so its deprecated twin of a v2 commit never adds or erases anything."""
    if not await extend_timeline(delivery, event.order_id):
        return  # not one of ours
    rows = [r for line in event.lines for r in _rows(event.order_id, line.sku, line.allocations)]
    if rows:
        connection = await delivery.session.connection()
        await connection.execute(_INSERT_ALLOCATIONS, rows)


async def reallocate(delivery: Delivery[OrderRuntime], event: StockReallocatedV1) -> None:
    """The line's units of the withdrawn lot now come from other lots. Only committed units
    have trace codes and are kept: a re-allocation before the commit changes nothing stored
    (the commit will name the lots it finally took)."""
    if not await extend_timeline(delivery, event.order_id):
        return
    connection = await delivery.session.connection()
    await connection.execute(
        _DELETE_LOT, {"order_id": event.order_id, "sku": event.sku, "lot": event.from_lot}
    )
    committed = [a for a in event.allocations if a.trace_code is not None]
    if committed:
        await connection.execute(_INSERT_ALLOCATIONS, _rows(event.order_id, event.sku, committed))


async def mark_recalled(delivery: Delivery[OrderRuntime], event: RecallCustomerAffectedV1) -> None:
    """The order shipped units of a recalled lot: reads say so from the first notice on, and a
    return of it is accepted whatever the window. A later recall keeps the first date."""
    if not await extend_timeline(delivery, event.order_id):
        return
    connection = await delivery.session.connection()
    await connection.execute(
        _MARK_RECALLED, {"order_id": event.order_id, "recalled_at": event.recalled_at}
    )
