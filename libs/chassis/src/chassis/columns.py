"""The column declarations every service's tables.py repeats: time zone aware timestamps,
BIGINT amounts, the surrogate BIGINT key, the CHECK that holds a column to a set of values,
and the `sa.Table` of a model for Core statements.

Each helper declares exactly the column the services wrote by hand (same type, nullability and
index), so using one changes no schema.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

# A surrogate key: BIGINT on PostgreSQL, INTEGER on SQLite (it autoincrements only that type).
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def utc_timestamp(*, nullable: bool = False, index: bool = False) -> Any:
    """A time zone aware timestamp (every time stored is UTC; SQLite keeps it naive). Required
    when not nullable; a nullable one defaults to None."""
    column = sa.Column(sa.DateTime(timezone=True), nullable=nullable, index=index)
    return Field(default=None, sa_column=column) if nullable else Field(sa_column=column)


def big_integer(*, nullable: bool = False, default: int | None = None) -> Any:
    """A BIGINT column (money in minor units, points): an INTEGER may overflow on sums.
    Required unless nullable (then it defaults to None) or `default` is given."""
    column = sa.Column(sa.BigInteger, nullable=nullable)
    if nullable or default is not None:
        return Field(default=default, sa_column=column)
    return Field(sa_column=column)


def one_of(column: str, values: Iterable[str]) -> str:
    """The CHECK expression that holds `column` to `values`: `status IN ('A', 'B')`."""
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def table_of(model: type[SQLModel]) -> sa.Table:
    """The table of a `table=True` model, for Core statements (SQLModel does not type
    `__table__`)."""
    table = getattr(model, "__table__", None)
    if not isinstance(table, sa.Table):
        raise TypeError(f"{model.__name__} is not a table model")
    return table
