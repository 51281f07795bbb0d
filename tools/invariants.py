"""DESIGN.md section 5's invariants as plain SQL over each service's own database, shared by
the end-to-end tests (SQLAlchemy) and the order benchmark (asyncpg): none takes a parameter."""

from __future__ import annotations

CONFIRMED = ("CONFIRMED", "SHIPPED", "DELIVERED", "COMPLETED")
TERMINAL = frozenset({*CONFIRMED, "REJECTED", "CANCELLED", "REFUNDED"})

# (service, what must hold, SQL counting the rows that break it)
VIOLATIONS: tuple[tuple[str, str, str], ...] = (
    (
        "inventory",
        "no oversell: stock never negative, never more reserved than on hand",
        "SELECT count(*) FROM stock WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand",
    ),
    (
        "payment",
        "captured <= authorized, refunded <= captured",
        "SELECT count(*) FROM payment_intents "
        "WHERE captured_amount > amount OR refunded_amount > captured_amount",
    ),
    (
        "payment",
        "at most one capture per order",
        "SELECT count(*) FROM (SELECT intent_id FROM payment_ledger WHERE kind = 'CAPTURE' "
        "GROUP BY intent_id HAVING count(*) > 1) AS twice",
    ),
    (
        "payment",
        "authorized = captured (+ voided) per captured intent",
        "SELECT count(*) FROM payment_intents "
        "WHERE status IN ('CAPTURED', 'REFUNDED') AND captured_amount <> amount",
    ),
)
