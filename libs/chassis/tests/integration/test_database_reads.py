"""`Database.reads()` on PostgreSQL: a read session outside any transaction. Its statements
each see what is committed when they start (no transaction holds a snapshot or a start time),
and it sees what a transaction committed a moment before."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
from sqlalchemy import text

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
