"""The UPDATE of one row by its key that the services' Core use cases build once at import:
`UPDATE t SET a = :b_a, b = :b_b WHERE key = :b_key`, executed with `update_params(...)`.

The bind parameters are the columns' names with a `b_` prefix because SQLAlchemy refuses a bind
named after a column of the table in an UPDATE's WHERE clause (it reserves those names for the
SET clause); `update_params` adds the prefix so callers name columns only.
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa

BIND_PREFIX = "b_"


def update_by_key(table: sa.Table, key: str, *columns: str) -> sa.Update:
    """The UPDATE setting `columns` of the row whose `key` column matches, all from bind
    parameters (`update_params`). Built once and reused, it is compiled once."""
    return (
        sa.update(table)
        .where(table.c[key] == sa.bindparam(BIND_PREFIX + key))
        .values({name: sa.bindparam(BIND_PREFIX + name) for name in columns})
    )


def update_params(**values: Any) -> dict[str, Any]:
    """The parameters of an `update_by_key` statement: the key's and the columns' values, by
    column name."""
    return {BIND_PREFIX + name: value for name, value in values.items()}
