"""chassis.columns: the helpers render exactly the DDL the services wrote by hand."""

from __future__ import annotations

from enum import StrEnum

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql.base import PGDialect
from sqlalchemy.dialects.sqlite.base import SQLiteDialect
from sqlalchemy.schema import CreateIndex, CreateTable

from chassis.columns import (
    BIG_ID,
    check_one_of,
    not_negative,
    one_of,
    partial_index,
    surrogate_key,
)

POSTGRESQL: sa.Dialect = PGDialect()  # type: ignore[no-untyped-call]
SQLITE: sa.Dialect = SQLiteDialect()


class Colour(StrEnum):
    RED = "RED"
    GREEN = "GREEN"


def ddl(table: sa.Table, dialect: sa.Dialect) -> str:
    return str(CreateTable(table).compile(dialect=dialect))


def test_one_of_quotes_strings_and_enum_members_alike() -> None:
    assert one_of("colour", ("RED", "GREEN")) == "colour IN ('RED', 'GREEN')"
    assert one_of("colour", Colour) == "colour IN ('RED', 'GREEN')"
    assert one_of("name", ["o'clock"]) == "name IN ('o''clock')"


def test_checks_are_named_after_table_and_column() -> None:
    table = sa.Table(
        "paints",
        sa.MetaData(),
        sa.Column("colour", sa.String(10)),
        sa.Column("litres", sa.Integer),
        sa.Column("cans", sa.Integer),
        check_one_of("paints", "colour", Colour),
        *not_negative("paints", "litres", "cans"),
    )
    text = ddl(table, POSTGRESQL)
    assert "CONSTRAINT ck_paints_colour CHECK (colour IN ('RED', 'GREEN'))" in text
    assert "CONSTRAINT ck_paints_litres_not_negative CHECK (litres >= 0)" in text
    assert "CONSTRAINT ck_paints_cans_not_negative CHECK (cans >= 0)" in text


def test_partial_index_filters_on_both_dialects() -> None:
    index = partial_index("ux_jobs_open", "id", unique=True, where="NOT done")
    sa.Table(
        "jobs",
        sa.MetaData(),
        sa.Column("id", BIG_ID, primary_key=True),
        sa.Column("done", sa.Boolean),
        index,
    )
    for dialect in (POSTGRESQL, SQLITE):
        rendered = str(CreateIndex(index).compile(dialect=dialect))
        assert rendered == "CREATE UNIQUE INDEX ux_jobs_open ON jobs (id) WHERE NOT done"


def test_surrogate_key_is_numbered_by_the_database() -> None:
    field = surrogate_key()
    column: sa.Column[int] = field.sa_column
    assert field.default is None and column.primary_key
    # BIGINT, but INTEGER on SQLite: only that type autoincrements there.
    assert column.type.compile(dialect=POSTGRESQL) == "BIGINT"
    assert column.type.compile(dialect=SQLITE) == "INTEGER"
