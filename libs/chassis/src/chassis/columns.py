"""The declarations every service's tables.py repeats: time zone aware timestamps, BIGINT
amounts, the surrogate BIGINT key, the CHECKs that hold a column to a set of values or above
zero, partial indexes, and the `sa.Table` of a model for Core statements.

Each helper declares exactly what the services wrote by hand (same type, nullability, index and
constraint name), so using one changes no schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# A surrogate key: BIGINT on PostgreSQL, INTEGER on SQLite (it autoincrements only that type).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def surrogate_key() -> Any:
    """The `id` primary key the database numbers (None until the row is inserted)."""
    return Field(default=None, sa_column=sa.Column(BIG_ID, primary_key=True))


def utc_timestamp(*, nullable: bool = False, index: bool = False) -> Any:
    """A time zone aware timestamp (every time stored is UTC; SQLite keeps it naive). Required
    when not nullable; a nullable one defaults to None."""
    column = sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)
    return Field(default=None, sa_column=column) if nullable else Field(sa_column=column)


def big_integer(
    *, nullable: bool = False, default: int | None = None, server_default: str | None = None
) -> Any:
    """A BIGINT column (money in minor units, points): an INTEGER may overflow on sums.
    Required unless nullable (then it defaults to None) or `default` is given;
    `server_default` for a column a migration adds to rows that exist."""
    column = sa.Column(sa.BigInteger, nullable=nullable, server_default=server_default)
    if nullable or default is not None:
        return Field(default=default, sa_column=column)
    return Field(sa_column=column)


def one_of(column: str, values: Iterable[str]) -> str:
    """The CHECK expression that holds `column` to `values`: `status IN ('A', 'B')`. A StrEnum
    class will do: its members are their values."""
    literals = ("'" + str(value).replace("'", "''") + "'" for value in values)
    return f"{column} IN ({', '.join(literals)})"


def check_one_of(table: str, column: str, values: Iterable[str]) -> sa.CheckConstraint:
    """CHECK `column IN (...)`, named `ck_<table>_<column>` as every service names it."""
    return sa.CheckConstraint(one_of(column, values), name=f"ck_{table}_{column}")


def not_negative(table: str, *columns: str) -> tuple[sa.CheckConstraint, ...]:
    """CHECK `column >= 0` for each column, named `ck_<table>_<column>_not_negative`."""
    return tuple(
        sa.CheckConstraint(f"{column} >= 0", name=f"ck_{table}_{column}_not_negative")
        for column in columns
    )


def partial_index(name: str, *columns: str, where: str, unique: bool = False) -> sa.Index:
    """An index of the rows `where` holds for, on PostgreSQL and SQLite alike (each dialect
    takes its own `*_where`; one left out there would index every row)."""
    condition = sa.text(where)
    return sa.Index(
        name, *columns, unique=unique, postgresql_where=condition, sqlite_where=condition
    )


def table_of(model: type[SQLModel]) -> sa.Table:
    """The table of a `table=True` model, for Core statements (SQLModel does not type
    `__table__`)."""
    table = getattr(model, "__table__", None)
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table
