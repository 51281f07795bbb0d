"""`as_utc`: a timestamp read back from SQLite (naive, written in UTC) becomes aware UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import create_async_engine

from chassis.db import as_utc


def test_a_naive_timestamp_is_taken_as_utc() -> None:
    assert as_utc(datetime(2026, 1, 2, 3, 4, 5)) == datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)


def test_an_aware_timestamp_is_left_as_it_is() -> None:
    shanghai = datetime(2026, 1, 2, 11, 4, 5, tzinfo=timezone(timedelta(hours=8)))
    assert as_utc(shanghai) is shanghai


def test_none_stays_none() -> None:
    assert as_utc(None) is None


async def test_a_timestamp_round_trips_through_sqlite() -> None:
    written = datetime(2026, 11, 22, 7, 41, 26, 231596, tzinfo=UTC)
    table = sa.Table("t", sa.MetaData(), sa.Column("at", sa.DateTime(timezone=True)))
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    try:
        async with engine.begin() as connection:
            await connection.run_sync(table.metadata.create_all)
            await connection.execute(table.insert().values(at=written))
            read = (await connection.execute(sa.select(table.c.at))).scalar_one()
    finally:
        await engine.dispose()
    assert read.tzinfo is None  # what services had to fix by hand
    assert as_utc(read) == written
