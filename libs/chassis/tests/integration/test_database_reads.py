"""`Database.reads()` on PostgreSQL: a read session outside any transaction. Its statements
each see what is committed when they start (no transaction holds a snapshot or a start time),
and it sees what a transaction committed a moment before."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import Database

pytestmark = pytest.mark.integration


async def test_each_read_runs_outside_a_transaction(database: Database) -> None:
    async with database.reads() as session:
        first = (await session.execute(text("SELECT now()"))).scalar_one()
        await asyncio.sleep(0.05)
        second = (await session.execute(text("SELECT now()"))).scalar_one()
    # now() is the start of the transaction: the same for every statement of one.
    assert second > first

    async with database.transaction() as session:
        first = (await session.execute(text("SELECT now()"))).scalar_one()
        await asyncio.sleep(0.05)
        second = (await session.execute(text("SELECT now()"))).scalar_one()
    assert second == first


async def test_reads_see_what_was_just_committed(database: Database) -> None:
    async with database.transaction() as session:
        await session.execute(text("CREATE TABLE IF NOT EXISTS read_probe (n int)"))
        await session.execute(text("INSERT INTO read_probe VALUES (7)"))
    async with database.reads() as session:
        seen = (await session.execute(text("SELECT sum(n) FROM read_probe"))).scalar_one()
    assert seen >= 7


async def test_reads_on_sqlite(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/reads.db")
    try:
        async with database.transaction() as session:
            await session.execute(text("CREATE TABLE read_probe (n int)"))
            await session.execute(text("INSERT INTO read_probe VALUES (7)"))
        async with database.reads() as session:
            assert (await session.execute(text("SELECT sum(n) FROM read_probe"))).scalar_one() == 7
    finally:
        await database.dispose()


async def run(session: AsyncSession, sql: str) -> None:
    await (await session.connection()).execute(text(sql))


async def probes(session: AsyncSession) -> int:
    connection = await session.connection()
    count: int = (
        await connection.execute(text("SELECT count(*) FROM snapshot_probe"))
    ).scalar_one()
    return count


async def writes_between(database: Database, session_reads: list[int]) -> None:
    """Within one snapshot: read, let another transaction commit a row, read again."""
    async with database.snapshot() as session:
        session_reads.append(await probes(session))
        async with database.transaction() as other:
            await run(other, "INSERT INTO snapshot_probe VALUES (1)")
        session_reads.append(await probes(session))
    async with database.reads() as session:
        session_reads.append(await probes(session))


async def test_a_snapshot_does_not_see_a_commit_between_its_statements(
    database: Database,
) -> None:
    async with database.transaction() as session:
        await run(session, "CREATE TABLE snapshot_probe (n int)")
    counts: list[int] = []
    await writes_between(database, counts)
    assert counts == [0, 0, 1]  # the commit is seen after the snapshot, not inside it
    # reads() has no snapshot: its second statement sees the commit.
    async with database.reads() as session:
        before = await probes(session)
        async with database.transaction() as other:
            await run(other, "INSERT INTO snapshot_probe VALUES (2)")
        after = await probes(session)
    assert (before, after) == (1, 2)


async def test_a_snapshot_on_sqlite(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path}/snapshot.db")
    try:
        async with database.transaction() as session:
            await run(session, "CREATE TABLE snapshot_probe (n int)")
        counts: list[int] = []
        await writes_between(database, counts)
        assert counts == [0, 0, 1]
    finally:
        await database.dispose()


async def test_a_snapshot_writes_nothing(database: Database) -> None:
    async with database.transaction() as session:
        await run(session, "CREATE TABLE IF NOT EXISTS snapshot_ro (n int)")
    with pytest.raises(Exception, match="read-only"):
        async with database.snapshot() as session:
            await run(session, "INSERT INTO snapshot_ro VALUES (1)")


@pytest.mark.parametrize("kind", ["postgresql", "sqlite"])
async def test_a_failed_statements_error_names_none_of_its_values(
    database: Database, tmp_path: Path, kind: str
) -> None:
    # Its text goes into a logged traceback: a payment token or an address must not.
    db = database if kind == "postgresql" else Database(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    try:
        with pytest.raises(DBAPIError) as failed:
            async with db.transaction() as session:
                await session.execute(
                    text("SELECT * FROM no_such_table WHERE token = :token"),
                    {"token": "tok_secret_4242"},
                )
    finally:
        if db is not database:
            await db.dispose()
    assert "no_such_table" in str(failed.value)
    assert "tok_secret_4242" not in str(failed.value)
