"""The suite's invariants (tools/invariants.py) as SQL over each service's own database.

Shared by the end-to-end suites: each function takes a SQLAlchemy connection to the one
service's database it reads, however that suite reaches it (in-process apps or a launched suite).
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from tools.invariants import TERMINAL, VIOLATIONS

__all__ = ["TERMINAL", "effects", "order_states", "settled", "violations"]

# What each outcome leaves behind once every step is settled: (reservation statuses, payment
# statuses); None where the saga never got that far.
_CONFIRMED = (frozenset({"COMMITTED"}), frozenset({"CAPTURED"}))
SETTLED_EFFECTS: dict[str, tuple[frozenset[str | None], frozenset[str | None]]] = {
    **dict.fromkeys(("CONFIRMED", "SHIPPED", "DELIVERED", "COMPLETED"), _CONFIRMED),
    "REJECTED": (
        frozenset({None, "RELEASED", "REJECTED"}),
        frozenset({None, "FAILED", "VOIDED"}),
    ),
    "CANCELLED": (
        frozenset({None, "RELEASED", "REJECTED"}),
        frozenset({None, "FAILED", "VOIDED", "REFUNDED"}),
    ),
    # Returned after delivery: the units back on hand, the capture refunded.
    "REFUNDED": (frozenset({"RELEASED"}), frozenset({"REFUNDED"})),
}


async def scalar(conn: AsyncConnection, sql: str, **params: Any) -> Any:
    return (await conn.execute(sa.text(sql), params)).scalar()


async def violations(service: str, conn: AsyncConnection) -> dict[str, int]:
    """The rules over `service`'s database that some row breaks, with how many rows each."""
    counts = {rule: await scalar(conn, sql) for owner, rule, sql in VIOLATIONS if owner == service}
    return {rule: count for rule, count in counts.items() if count}


async def effects(
    inventory: AsyncConnection, payment: AsyncConnection, order_id: str
) -> tuple[str | None, str | None]:
    """(reservation status, payment status) of one order; None where there is none."""
    reservation = await scalar(
        inventory, "SELECT status FROM reservations WHERE order_id = :o", o=order_id
    )
    money = await scalar(
        payment, "SELECT status FROM payment_intents WHERE order_id = :o", o=order_id
    )
    return reservation, money


def settled(status: str, reservation: str | None, payment: str | None) -> bool:
    """Whether an order in `status` has every step it took settled or compensated."""
    stock_ok, money_ok = SETTLED_EFFECTS.get(status, (frozenset(), frozenset()))
    return reservation in stock_ok and payment in money_ok


async def order_states(
    order: AsyncConnection, order_ids: list[str]
) -> dict[str, tuple[str, str | None]]:
    """(status, reason) of each of `order_ids` that the order service knows."""
    if not order_ids:
        return {}
    query = sa.text("SELECT id, status, reason FROM orders WHERE id IN :ids").bindparams(
        sa.bindparam("ids", expanding=True)
    )
    rows = (await order.execute(query, {"ids": order_ids})).all()
    return {row[0]: (row[1], row[2]) for row in rows}


async def unsettled_orders(
    order: AsyncConnection,
    inventory: AsyncConnection,
    payment: AsyncConnection,
    order_ids: list[str],
) -> dict[str, tuple[str | None, str | None, str | None]]:
    """No lost order, every step settled: the orders of `order_ids` not yet in a terminal state
    or whose stock or money is not yet settled, as (status, reservation, payment)."""
    states = await order_states(order, order_ids)
    found = {}
    for order_id in order_ids:
        status = states[order_id][0] if order_id in states else None
        reservation, money = await effects(inventory, payment, order_id)
        if status is None or status not in TERMINAL or not settled(status, reservation, money):
            found[order_id] = (status, reservation, money)
    return found
