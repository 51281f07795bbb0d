"""`chassis.db.rows_before_commit` on PostgreSQL: rows gathered over a transaction, written by
one statement as it commits, and not at all when it rolls back."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql

from chassis.db import Database, rows_before_commit
from chassis.testing.statements import statements_sent

pytestmark = pytest.mark.integration


def counter_table() -> tuple[sa.Table, Any]:
    table = sa.Table(
        f"counts_{uuid.uuid4().hex[:8]}",
        sa.MetaData(),
        sa.Column("k", sa.String, primary_key=True),
        sa.Column("n", sa.Integer, nullable=False),
    )
    insert = postgresql.insert(table)
    add = insert.on_conflict_do_update(
        index_elements=["k"], set_={"n": table.c.n + insert.excluded.n}
    )
    return table, add


def bump(rows: dict[Any, dict[str, Any]], key: str, by: int = 1) -> None:
    rows.setdefault(key, {"k": key, "n": 0})["n"] += by


async def counts(database: Database, table: sa.Table) -> dict[str, int]:
    async with database.autocommit() as connection:
        return {k: n for k, n in (await connection.execute(sa.select(table.c.k, table.c.n))).all()}


async def test_rows_are_written_by_one_statement_at_commit(database: Database) -> None:
    table, add = counter_table()
    async with database.engine.begin() as connection:
        await connection.run_sync(table.create)

    with statements_sent(database.engine) as statements:
        async with database.transaction() as session:
            for key in ["a", "b", "a", "a"]:  # four events of one poll
                bump(rows_before_commit(session, add), key)
            # Not written yet: the transaction's own statements do not see them.
            connection = await session.connection()
            assert (await connection.execute(sa.select(sa.func.count(table.c.k)))).scalar() == 0
            statements.clear()
    assert [s.split()[0] for s in statements] == [
        "INSERT"
    ]  # one executemany for the whole transaction
    assert await counts(database, table) == {"a": 3, "b": 1}

    async with database.transaction() as session:  # a later poll adds to the same rows
        bump(rows_before_commit(session, add), "a", 2)
    assert await counts(database, table) == {"a": 5, "b": 1}


async def test_nothing_is_written_when_the_transaction_rolls_back(database: Database) -> None:
    table, add = counter_table()
    async with database.engine.begin() as connection:
        await connection.run_sync(table.create)
    with pytest.raises(RuntimeError):
        async with database.transaction() as session:
            bump(rows_before_commit(session, add), "a")
            raise RuntimeError("a handler failed: the poll's transaction rolls back")
    assert await counts(database, table) == {}

    async with database.sessions() as session:  # one session, two transactions
        async with session.begin():
            bump(rows_before_commit(session, add), "a")
        async with session.begin():
            bump(rows_before_commit(session, add), "a")
    assert await counts(database, table) == {"a": 2}  # each commit wrote its own row once
