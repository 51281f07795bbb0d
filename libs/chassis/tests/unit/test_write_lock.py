"""`chassis.locks.hold_write_lock` on SQLite: one statement, which takes the database's write
lock, when the transaction has not written yet; none once it has (a consumer's handler, whose
inbox INSERT came first, pays nothing for it)."""

from __future__ import annotations

from pathlib import Path

import sqlalchemy as sa

from chassis.db import Database
from chassis.locks import hold_write_lock
from chassis.outbox import OUTBOX
from chassis.testing.statements import statements_sent

NOTES = sa.Table("notes", sa.MetaData(), sa.Column("text", sa.String))


async def test_the_write_lock_costs_a_statement_only_before_the_first_write(
    tmp_path: Path,
) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'locks.db'}")
    try:
        async with database.engine.begin() as conn:
            await conn.run_sync(OUTBOX.metadata.create_all)
            await conn.run_sync(NOTES.metadata.create_all)
        async with database.transaction() as session:
            conn = await session.connection()
            with statements_sent(database.engine) as before_writing:
                await hold_write_lock(conn)
            await conn.execute(sa.insert(NOTES).values(text="written"))
            with statements_sent(database.engine) as after_writing:
                await hold_write_lock(conn)
        assert [sql.split()[0] for sql in before_writing] == ["UPDATE"]
        assert after_writing == []
    finally:
        await database.dispose()
