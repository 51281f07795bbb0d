"""What the starter does with each event it reads: the order table a downstream team keeps.

One handler per event type, written for ONE version of it (the model's class says which):
older records reach it upcast by the contract's registry, and of an event published in several
versions at once it gets one record only (`decode.read`). Every handler returns the line the
starter prints. Types not listed here are ignored.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Mapping
from typing import Any

from downstream_starter.store import touch
from shared_events import EventPayload
from shared_events.inventory import LotAllocation, StockCommittedV2, StockReallocatedV1
from shared_events.order import (
    OrderCancelledV1,
    OrderCompletedV1,
    OrderConfirmedV1,
    OrderDeliveredV1,
    OrderPlacedV1,
    OrderRejectedV1,
    OrderReturnedV1,
    OrderShippedV1,
)

Handler = Callable[[sqlite3.Connection, Any], str]

# A commit upcast from v1 (published before lots existed) names no lot.
NO_LOT = "-"


def on_placed(db: sqlite3.Connection, event: OrderPlacedV1) -> str:
    touch(db, event.order_id)
    db.execute(
        "UPDATE orders SET member_id = ?, status = 'PLACED', total_minor = ?, currency = ? "
        "WHERE order_id = ?",
        (event.member_id, event.total.amount, event.total.currency, event.order_id),
    )
    return f"order {event.order_id} PLACED, {money(event.total.amount, event.total.currency)}"


def status_is(status: str) -> Handler:
    """A handler of an order event that only moves the order to `status`."""

    def handle(db: sqlite3.Connection, event: Any) -> str:
        touch(db, event.order_id)
        db.execute("UPDATE orders SET status = ? WHERE order_id = ?", (status, event.order_id))
        return f"order {event.order_id} {status}"

    return handle


def on_committed(db: sqlite3.Connection, event: StockCommittedV2) -> str:
    """The lots each line took, with their trace codes (v2; a v1 record arrives upcast, with no
    allocations)."""
    touch(db, event.order_id)
    db.execute("DELETE FROM order_lots WHERE order_id = ?", (event.order_id,))
    for line in event.lines:
        if not line.allocations:
            add_lot(db, event.order_id, line.sku, NO_LOT, line.quantity, None)
        for taken in line.allocations:
            add_lot(db, event.order_id, line.sku, taken.lot, taken.quantity, taken.trace_code)
    return f"order {event.order_id} lots: {lots(event.lines)}"


def on_reallocated(db: sqlite3.Connection, event: StockReallocatedV1) -> str:
    """A withdrawn lot (recalled, expired) replaced by others: new lots, new trace codes."""
    touch(db, event.order_id)
    db.execute(
        "DELETE FROM order_lots WHERE order_id = ? AND sku = ? AND lot = ?",
        (event.order_id, event.sku, event.from_lot),
    )
    for taken in event.allocations:
        add_lot(db, event.order_id, event.sku, taken.lot, taken.quantity, taken.trace_code)
    moved = ", ".join(describe(taken) for taken in event.allocations)
    return f"order {event.order_id} {event.sku} moved off lot {event.from_lot}: {moved}"


def add_lot(
    db: sqlite3.Connection, order_id: str, sku: str, lot: str, quantity: int, code: str | None
) -> None:
    db.execute(
        "INSERT INTO order_lots (order_id, sku, lot, quantity, trace_code) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (order_id, sku, lot) DO UPDATE SET quantity = quantity + excluded.quantity, "
        "trace_code = excluded.trace_code",
        (order_id, sku, lot, quantity, code),
    )


def money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency}"


def describe(taken: LotAllocation) -> str:
    return f"{taken.quantity} from lot {taken.lot} (trace {taken.trace_code or '-'})"


def lots(lines: list[Any]) -> str:
    parts = [
        f"{line.sku}: " + (", ".join(map(describe, line.allocations)) or f"{line.quantity}, no lot")
        for line in lines
    ]
    return "; ".join(parts)


HANDLERS: Mapping[type[EventPayload], Handler] = {
    OrderPlacedV1: on_placed,
    OrderConfirmedV1: status_is("CONFIRMED"),
    OrderRejectedV1: status_is("REJECTED"),
    OrderCancelledV1: status_is("CANCELLED"),
    OrderShippedV1: status_is("SHIPPED"),
    OrderDeliveredV1: status_is("DELIVERED"),
    OrderCompletedV1: status_is("COMPLETED"),
    OrderReturnedV1: status_is("RETURNED"),
    StockCommittedV2: on_committed,
    StockReallocatedV1: on_reallocated,
}
