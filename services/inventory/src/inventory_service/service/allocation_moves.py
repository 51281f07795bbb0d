"""Moving units an order holds, allocation by allocation: each lot changes, and so does its
SKU's stock row when the lot is on sale (a withdrawn lot's units are out of sale and stay so);
the allocations take their new status and the ledger gets a row per allocation. Every step of
a reservation (commit, release, restock) and a withdrawal's release go through here."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.staging import Stage
from inventory_service.domain.stock import MovementKind, StockLevel
from inventory_service.service.allocation_rows import Allocation, set_allocations
from inventory_service.service.ledger import movement, write_movements
from inventory_service.service.lot_levels import change_lots
from inventory_service.service.stock_levels import change_levels, signal_low
from shared_events import inventory as events


@dataclass(frozen=True, slots=True)
class Move:
    """One allocation's change: its lot's on-hand and reserved deltas, its new row
    (`allocation_change`), and the ledger's kind and reason."""

    allocation: Allocation
    d_on_hand: int
    d_reserved: int
    change: dict[str, Any]
    kind: MovementKind
    reason: str


async def apply_moves(
    conn: AsyncConnection,
    stage: Stage,
    moves: Sequence[Move],
    at: datetime,
    *,
    locked: dict[str, StockLevel] | None = None,
) -> None:
    """The stock rows first (in SKU order; `locked`: their levels as the caller read them under
    lock), then the lots, the allocations and the ledger, one statement each."""
    stock: dict[str, tuple[int, int]] = {}
    for move in moves:
        if move.allocation.sellable:
            on_hand, reserved = stock.get(move.allocation.sku, (0, 0))
            stock[move.allocation.sku] = (on_hand + move.d_on_hand, reserved + move.d_reserved)
    deltas = [(sku, d_on, d_res) for sku, (d_on, d_res) in sorted(stock.items()) if d_on or d_res]
    try:
        levels = await change_levels(conn, deltas, locked=locked) if deltas else []
    except KeyError as missing:
        raise RuntimeError(f"the stock record of {missing.args[0]} is missing") from None
    for (sku, _, _), (before, after) in zip(deltas, levels, strict=True):
        signal_low(stage, sku, before, after)
    lot_changes = [(m.allocation.sku, m.allocation.lot, m.d_on_hand, m.d_reserved) for m in moves]
    await change_lots(conn, sorted(lot_changes), at)
    await set_allocations(conn, [move.change for move in moves])
    await write_movements(
        conn,
        [
            movement(
                m.allocation.sku,
                m.kind,
                m.d_on_hand,
                m.d_reserved,
                m.reason,
                m.allocation.order_id,
                lot=m.allocation.lot,
            )
            for m in moves
        ],
    )


def stock_lines(allocations: Sequence[Allocation]) -> list[events.StockLine]:
    """An order's units per SKU, in SKU order, as the events carry them."""
    totals: dict[str, int] = {}
    for allocation in allocations:
        totals[allocation.sku] = totals.get(allocation.sku, 0) + allocation.quantity
    return [events.StockLine(sku=sku, quantity=totals[sku]) for sku in sorted(totals)]
