"""The starter's own state in SQLite: the events it has applied (the dedupe key is the event id)
and the table of orders it keeps. SQLite so that both survive a restart with no server to run.

An event's effect and its event id are written in one transaction: after a crash either both
are there (a redelivery is recognised as a duplicate) or neither (it is applied again)."""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id   TEXT PRIMARY KEY,
    type       TEXT NOT NULL,
    version    INTEGER NOT NULL,
    subject    TEXT NOT NULL,
    deliveries INTEGER NOT NULL DEFAULT 1  -- > 1: the broker delivered it again, applied once
);
CREATE TABLE IF NOT EXISTS orders (
    order_id       TEXT PRIMARY KEY,
    member_id      TEXT,
    status         TEXT NOT NULL,
    total_minor    INTEGER,
    currency       TEXT,
    events_applied INTEGER NOT NULL DEFAULT 0
);
CREATE TABLE IF NOT EXISTS order_lots (
    order_id   TEXT NOT NULL,
    sku        TEXT NOT NULL,
    lot        TEXT NOT NULL,
    quantity   INTEGER NOT NULL,
    trace_code TEXT,
    PRIMARY KEY (order_id, sku, lot)
);
CREATE TABLE IF NOT EXISTS unreadable (
    event_id TEXT PRIMARY KEY,
    type     TEXT NOT NULL,
    error    TEXT NOT NULL
);
"""

# An order's events are on two topics (order.events, inventory.events): the lots may arrive
# before the order itself. Such an order is UNKNOWN until its own events come.
UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class Lot:
    sku: str
    lot: str
    quantity: int
    trace_code: str | None


@dataclass(frozen=True, slots=True)
class Order:
    order_id: str
    member_id: str | None
    status: str
    total_minor: int | None
    currency: str | None
    events_applied: int
    lots: tuple[Lot, ...]


class Store:
    def __init__(self, path: Path) -> None:
        # isolation_level=None: transactions are opened explicitly in `transaction`.
        self._db = sqlite3.connect(path, isolation_level=None)
        self._db.execute("PRAGMA journal_mode=WAL")  # readers (a test, `show`) never block it
        self._db.executescript(SCHEMA)

    def close(self) -> None:
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        self._db.execute("BEGIN IMMEDIATE")
        try:
            yield self._db
        except BaseException:
            self._db.execute("ROLLBACK")
            raise
        self._db.execute("COMMIT")

    def orders(self) -> list[Order]:
        return [self.order(row[0]) for row in self._db.execute("SELECT order_id FROM orders")]

    def order(self, order_id: str) -> Order:
        row = self._db.execute(
            "SELECT member_id, status, total_minor, currency, events_applied FROM orders "
            "WHERE order_id = ?",
            (order_id,),
        ).fetchone()
        if row is None:
            raise KeyError(order_id)
        member_id, status, total_minor, currency, applied = row
        lots = self._db.execute(
            "SELECT sku, lot, quantity, trace_code FROM order_lots WHERE order_id = ? "
            "ORDER BY sku, lot",
            (order_id,),
        )
        taken = tuple(Lot(*lot) for lot in lots)
        return Order(order_id, member_id, status, total_minor, currency, applied, taken)


def claim(db: sqlite3.Connection, event_id: str, type_: str, version: int, subject: str) -> bool:
    """Record the event as applied; False when it already was (a duplicate delivery, counted)."""
    inserted = db.execute(
        "INSERT INTO events (event_id, type, version, subject) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (event_id) DO UPDATE SET deliveries = deliveries + 1 RETURNING deliveries",
        (event_id, type_, version, subject),
    ).fetchone()
    return bool(inserted[0] == 1)


def touch(db: sqlite3.Connection, order_id: str) -> None:
    """The order's row, UNKNOWN if new; one more event applied to it."""
    db.execute(
        "INSERT INTO orders (order_id, status, events_applied) VALUES (?, ?, 1) "
        "ON CONFLICT (order_id) DO UPDATE SET events_applied = events_applied + 1",
        (order_id, UNKNOWN),
    )


def unreadable(db: sqlite3.Connection, event_id: str, type_: str, error: str) -> None:
    db.execute(
        "INSERT INTO unreadable (event_id, type, error) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        (event_id, type_, error),
    )
