"""Locks that serialise the transactions touching one name (a member, a key) across replicas.

On PostgreSQL a transaction-scoped advisory lock on 64 bits of the name's SHA-256: held until
the transaction ends, one statement to take, nothing to clean up. SQLite has one write lock for
the whole database, and its driver begins a transaction only at the first write: the reads
before it see whatever is committed when each runs, so a read-then-write would act on what
another writer may have changed meanwhile. There a lock is the write lock, taken at once
(`hold_write_lock`); what the transaction reads after it stays current until it ends.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.outbox import OUTBOX

_LOCK = sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("key", type_=sa.BigInteger)))
# A write that matches no row: SQLite takes its write lock for it all the same. The outbox is
# the chassis' own table, in every service's database.
_WRITE_NOTHING = sa.update(OUTBOX).where(sa.false()).values(id=OUTBOX.c.id)
# The SQLSTATE PostgreSQL aborts one of two deadlocked transactions with.
DEADLOCK_DETECTED = "40P01"


def lock_key(name: str) -> int:
    """The advisory lock's key of `name`: 64 bits of its hash, signed as PostgreSQL's bigint."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def lock_name(conn: AsyncConnection, name: str) -> None:
    """Wait for, then hold until this transaction ends, the lock of `name` (on SQLite, the
    database's write lock)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_LOCK, {"key": lock_key(name)})
    else:
        await hold_write_lock(conn)


async def hold_write_lock(conn: AsyncConnection) -> None:
    """On SQLite, take the database's write lock now (waiting for another writer to commit),
    so that what this transaction reads from here on is current. Nothing on PostgreSQL, whose
    row locks (`SELECT ... FOR UPDATE`) do that job, nor on SQLite once the transaction has
    begun: the driver begins one only for a write, which took the lock (a consumer's inbox
    INSERT comes first in every handler's transaction), so the hot path sends nothing more."""
    if conn.dialect.name != "sqlite":
        return
    raw = await conn.get_raw_connection()
    if getattr(raw.driver_connection, "in_transaction", False):
        return
    await conn.execute(_WRITE_NOTHING)


def is_deadlock(error: BaseException) -> bool:
    """Whether `error` is PostgreSQL aborting this transaction to break a deadlock: nothing
    was wrong with the work, which can be run again."""
    origin = getattr(error, "orig", None)
    return getattr(origin, "sqlstate", None) == DEADLOCK_DETECTED
