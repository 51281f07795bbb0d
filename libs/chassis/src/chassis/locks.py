"""Locks that serialise the transactions touching one name (a member, a key) across replicas.

On PostgreSQL a transaction-scoped advisory lock on 64 bits of the name's SHA-256: held until
the transaction ends, one statement to take, nothing to clean up. SQLite serialises writers
anyway: nothing is taken there.
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

_LOCK = sa.select(sa.func.pg_advisory_xact_lock(sa.bindparam("key", type_=sa.BigInteger)))


def lock_key(name: str) -> int:
    """The advisory lock's key of `name`: 64 bits of its hash, signed as PostgreSQL's bigint."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


async def lock_name(conn: AsyncConnection, name: str) -> None:
    """Wait for, then hold until this transaction ends, the lock of `name` (PostgreSQL)."""
    if conn.dialect.name == "postgresql":
        await conn.execute(_LOCK, {"key": lock_key(name)})
