"""The suite's invariants (the checks listed in the README's "Reliability": no oversell, money
and points that add up, no effect applied twice, outboxes drained) as plain SQL over each
service's own database, shared by the end-to-end tests (SQLAlchemy), the order benchmark and
the chaos run (asyncpg): none takes a parameter. Table names are those of each service's
`tables.py`.

`VIOLATIONS` hold at every moment (each statement sees one committed state of one database);
`DRAINED` hold only once the suite is quiet, so they are checked after a drain, never mid-run.
"""

from __future__ import annotations

CONFIRMED = ("CONFIRMED", "SHIPPED", "DELIVERED", "COMPLETED")
TERMINAL = frozenset({*CONFIRMED, "REJECTED", "CANCELLED", "REFUNDED"})

# No effect applied twice, whatever is delivered twice: (service, what must hold, SQL counting
# the rows that break it). The chaos run counts these rows as duplicated effects.
EFFECTS_ONCE: tuple[tuple[str, str, str], ...] = (
    (
        "payment",
        "each money movement (authorize, capture, void, refund) at most once per intent",
        "SELECT count(*) FROM (SELECT intent_id, kind FROM payment_ledger "
        "GROUP BY intent_id, kind HAVING count(*) > 1) AS twice",
    ),
    (
        "inventory",
        "each stock movement (reserve, commit, release) at most once per order, SKU, lot and"
        " reason",
        "SELECT count(*) FROM (SELECT order_id, sku, lot, kind, reason FROM stock_movements "
        "WHERE order_id IS NOT NULL GROUP BY order_id, sku, lot, kind, reason "
        "HAVING count(*) > 1) AS twice",
    ),
    (
        "membership",
        "each points movement at most once per order and kind",
        "SELECT count(*) FROM (SELECT order_id, kind FROM points_ledger "
        "WHERE order_id IS NOT NULL GROUP BY order_id, kind HAVING count(*) > 1) AS twice",
    ),
)

# (service, what must hold, SQL counting the rows that break it)
VIOLATIONS: tuple[tuple[str, str, str], ...] = (
    (
        "inventory",
        "no oversell: stock never negative, never more reserved than on hand",
        "SELECT count(*) FROM stock WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand",
    ),
    (
        "inventory",
        "no lot below zero, never more reserved in a lot than it holds",
        "SELECT count(*) FROM lots WHERE on_hand < 0 OR reserved < 0 OR reserved > on_hand",
    ),
    (
        "inventory",
        "a SKU's stock is the sum of its sellable lots",
        "SELECT count(*) FROM stock s LEFT JOIN (SELECT sku, sum(on_hand) AS on_hand, "
        "sum(reserved) AS reserved FROM lots WHERE status = 'SELLABLE' GROUP BY sku) l "
        "ON l.sku = s.sku WHERE s.on_hand <> coalesce(l.on_hand, 0) "
        "OR s.reserved <> coalesce(l.reserved, 0)",
    ),
    (
        "inventory",
        "a sellable lot's reserved units are the units orders hold in it",
        "SELECT count(*) FROM lots l LEFT JOIN (SELECT sku, lot, sum(quantity) AS held "
        "FROM allocations WHERE status = 'HELD' GROUP BY sku, lot) a "
        "ON a.sku = l.sku AND a.lot = l.code "
        "WHERE l.status = 'SELLABLE' AND l.reserved <> coalesce(a.held, 0)",
    ),
    (
        "inventory",
        "units are held only for a reservation that is still reserved",
        "SELECT count(*) FROM allocations a LEFT JOIN reservations r ON r.order_id = a.order_id "
        "WHERE a.status = 'HELD' AND (r.status IS NULL OR r.status <> 'RESERVED')",
    ),
    (
        "inventory",
        "every committed unit belongs to exactly one lot",
        "SELECT count(*) FROM allocations a LEFT JOIN lots l ON l.sku = a.sku AND l.code = a.lot "
        "WHERE a.status = 'COMMITTED' AND l.code IS NULL",
    ),
    (
        "inventory",
        "a lot's disposed count agrees with its DISPOSE movements",
        "SELECT count(*) FROM lots l LEFT JOIN (SELECT sku, lot, -sum(delta_on_hand) AS units "
        "FROM stock_movements WHERE kind = 'DISPOSE' GROUP BY sku, lot) m "
        "ON m.sku = l.sku AND m.lot = l.code WHERE l.disposed <> coalesce(m.units, 0)",
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
    (
        "membership",
        "points balance and held points = the sums of the points ledger",
        "SELECT count(*) FROM members m LEFT JOIN (SELECT member_id, sum(delta) AS delta, "
        "sum(held_delta) AS held FROM points_ledger GROUP BY member_id) l ON l.member_id = m.id "
        "WHERE m.points_balance <> coalesce(l.delta, 0) OR m.points_held <> coalesce(l.held, 0)",
    ),
    *EFFECTS_ONCE,
)

# Every service that owns a database stages its events in an `outbox` table (chassis.outbox).
OUTBOX_OWNERS = ("catalog", "order", "inventory", "payment", "membership", "notification")

# Stuck, not merely unsent: the relay takes a row within half a second of its commit, and
# a service may stage events of its own at any time (notification's delivery job does).
DRAINED: tuple[tuple[str, str, str], ...] = tuple(
    (
        service,
        "nothing stuck in the outbox (unsent after 5 s)",
        "SELECT count(*) FROM outbox "
        "WHERE sent_at IS NULL AND created_at < now() - interval '5 seconds'",
    )
    for service in OUTBOX_OWNERS
)
