"""`paginate`: the count and one page, on PostgreSQL and on SQLite, in the JSON shape the
services' lists answer with."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import Field, SQLModel, col, func, select

from chassis.db import Database
from chassis.pagination import Page, count_of, paginate
from chassis.testing.infra import DatabaseFactory

pytestmark = pytest.mark.integration


class Item(SQLModel, table=True):
    __tablename__ = "pagination_items"

    id: str = Field(primary_key=True)
    kind: str
    created_at: datetime


class ItemTag(SQLModel, table=True):
    __tablename__ = "pagination_tags"

    item_id: str = Field(primary_key=True, foreign_key="pagination_items.id")
    tag: str = Field(primary_key=True)


START = datetime(2026, 1, 1, tzinfo=UTC)
# 25 items: a, b, c, ... alternating kinds; every item is tagged "all", the even ones "even".
ITEMS = [
    Item(id=f"item-{n:02}", kind="odd" if n % 2 else "even", created_at=START + timedelta(n))
    for n in range(25)
]


@pytest.fixture(params=["postgresql", "sqlite"])
async def database(
    request: pytest.FixtureRequest, create_database: DatabaseFactory, tmp_path: Path
) -> AsyncIterator[Database]:
    if request.param == "postgresql":
        url = await create_database("pagination")
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'pagination.db'}"
    database = Database(url)
    async with database.engine.begin() as connection:
        await connection.run_sync(
            lambda c: SQLModel.metadata.create_all(
                c,
                tables=[Item.__table__, ItemTag.__table__],  # type: ignore[list-item]
            )
        )
    async with database.transaction() as session:
        session.add_all([Item.model_validate(item.model_dump()) for item in ITEMS])
        await session.flush()
        tags = [ItemTag(item_id=i.id, tag="all") for i in ITEMS]
        tags += [ItemTag(item_id=i.id, tag="even") for i in ITEMS if i.kind == "even"]
        session.add_all(tags)
    yield database
    await database.dispose()


def ids(rows: Sequence[Item]) -> list[str]:
    return [row.id for row in rows]


NEWEST_FIRST = select(Item).order_by(col(Item.created_at).desc(), col(Item.id))


async def test_pages_are_counted_and_cut_newest_first(database: Database) -> None:
    async with database.sessions() as session:
        first = await paginate(session, NEWEST_FIRST, page=1, size=10, shape=ids)
        last = await paginate(session, NEWEST_FIRST, page=3, size=10, shape=ids)
        beyond = await paginate(session, NEWEST_FIRST, page=4, size=10, shape=ids)
    assert first.model_dump() == {
        "items": [f"item-{n:02}" for n in range(24, 14, -1)],
        "total": 25,
        "page": 1,
        "size": 10,
    }
    assert (last.items, last.total) == (["item-04", "item-03", "item-02", "item-01", "item-00"], 25)
    assert (beyond.items, beyond.total) == ([], 25)


async def test_filters_and_joins_count_what_they_select(database: Database) -> None:
    odd = NEWEST_FIRST.where(col(Item.kind) == "odd")
    tagged = (
        select(Item)
        .join(ItemTag, col(ItemTag.item_id) == col(Item.id))
        .where(col(ItemTag.tag) == "even")
        .order_by(col(Item.id))
    )
    async with database.sessions() as session:
        odd_page = await paginate(session, odd, page=2, size=5, shape=ids)
        tagged_page = await paginate(session, tagged, page=1, size=3, shape=ids)
    assert (odd_page.total, odd_page.items) == (
        12,
        ["item-13", "item-11", "item-09", "item-07", "item-05"],
    )
    assert (tagged_page.total, tagged_page.items) == (13, ["item-00", "item-02", "item-04"])


async def test_grouped_statements_are_counted_as_subqueries(database: Database) -> None:
    per_item = (
        select(Item)
        .join(ItemTag, col(ItemTag.item_id) == col(Item.id))
        .group_by(col(Item.id))
        .having(func.count() > 1)
        .order_by(col(Item.id))
    )
    async with database.sessions() as session:
        page = await paginate(session, per_item, page=1, size=2, shape=ids)
    assert (page.total, page.items) == (13, ["item-00", "item-02"])


async def test_shape_may_read_more_in_the_same_session(database: Database) -> None:
    async with database.sessions() as session:

        async def with_tags(rows: Sequence[Item]) -> list[dict[str, object]]:
            query = select(ItemTag).where(col(ItemTag.item_id).in_(ids(rows)))
            tags = (await session.exec(query)).all()
            return [
                {"id": row.id, "tags": sorted(t.tag for t in tags if t.item_id == row.id)}
                for row in rows
            ]

        page = await paginate(session, NEWEST_FIRST, page=1, size=2, shape=with_tags)
    assert page.items == [
        {"id": "item-24", "tags": ["all", "even"]},
        {"id": "item-23", "tags": ["all"]},
    ]
    assert isinstance(page, Page)


def test_a_plain_select_is_counted_as_one_would_write_it() -> None:
    filters = [col(Item.kind) == "odd"]
    by_hand = select(func.count()).select_from(Item).where(*filters)
    derived = count_of(select(Item).where(*filters).order_by(col(Item.created_at).desc()))
    assert str(derived) == str(by_hand)


def test_the_page_model_is_the_json_the_lists_answer() -> None:
    schema = Page[int].model_json_schema()
    assert schema["required"] == ["items", "total", "page", "size"]
