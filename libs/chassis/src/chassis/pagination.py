"""Count-plus-offset pagination: `?page=&size=` answered as `{"items", "total", "page", "size"}`.

The shape the catalog's, order's and notification's lists answer with. Two round trips, as
they made by hand: the count of the filtered rows, then the page itself (newest first is the
caller's `order_by`). `shape` turns the page's rows into what the API answers, inside the same
session, so it may read more (a product's SKUs, an order's lines) in one batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel
from sqlmodel import func, select
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import SelectOfScalar

T = TypeVar("T")
RowT = TypeVar("RowT")

# A list route's `?page=&size=` (`page: PageNumber = 1, size: PageSize = 20`), bounded alike on
# every service's lists.
PageNumber = Annotated[int, Query(ge=1, le=10_000)]
PageSize = Annotated[int, Query(ge=1, le=100)]


class Page(BaseModel, Generic[T]):
    """One page of a list; `total` counts every item the filters match, on all pages."""

    items: list[T]
    total: int
    page: int  # from 1
    size: int


def count_of(statement: SelectOfScalar[Any]) -> SelectOfScalar[int]:
    """`SELECT count(*)` over what `statement` selects, its ordering dropped. A plain filtered
    SELECT (joins included) is counted over its own FROM and WHERE, the statement one would
    write by hand; one with GROUP BY, HAVING or DISTINCT is counted as a subquery."""
    if statement._group_by_clauses or statement._having_criteria or statement._distinct:
        return select(func.count()).select_from(statement.order_by(None).subquery())
    counted = select(func.count()).select_from(*statement.get_final_froms())
    if statement.whereclause is not None:
        counted = counted.where(statement.whereclause)
    return counted


async def paginate(
    session: AsyncSession,
    statement: SelectOfScalar[RowT],
    *,
    page: int,
    size: int,
    shape: Callable[[Sequence[RowT]], Awaitable[list[T]] | list[T]],
) -> Page[T]:
    """Page `page` (from 1) of `size` rows of `statement`, ordered as the statement orders
    them (order by a unique key last, or rows can repeat or go missing between pages), with
    the total count. `shape` gets the page's rows at once, sync or async."""
    total = (await session.exec(count_of(statement))).one()
    rows = (await session.exec(statement.offset((page - 1) * size).limit(size))).all()
    shaped = shape(rows)
    items = await shaped if isinstance(shaped, Awaitable) else shaped
    return Page(items=items, total=int(total), page=page, size=size)
