"""Two requests that create the same row at once (a check-then-insert both passed): the loser
gets 409 `already-exists`, never a 500, on PostgreSQL and on SQLite."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from chassis.db import Database
from chassis.errors import install_problem_handlers

pytestmark = pytest.mark.integration

_ROWS = sa.Table("unique_rows", sa.MetaData(), sa.Column("code", sa.String(20), primary_key=True))


def _app(database: Database) -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/rows/{code}")
    async def create(code: str) -> dict[str, str]:
        async with database.transaction() as session:
            await session.execute(sa.insert(_ROWS).values(code=code))
        return {"code": code}

    return app


async def _creates_twice(database: Database) -> None:
    async with database.engine.begin() as conn:
        await conn.run_sync(_ROWS.metadata.create_all)
    transport = httpx.ASGITransport(app=_app(database), raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        first = await client.post("/rows/A-1")
        second = await client.post("/rows/A-1")
    assert first.status_code == 200
    assert second.status_code == 409, second.text
    assert second.headers["content-type"] == "application/problem+json"
    assert second.json()["type"].endswith("/already-exists")
    assert "unique_rows" not in second.text  # no SQL leaks out


async def test_postgres(database: Database) -> None:
    await _creates_twice(database)


async def test_sqlite(tmp_path: Path) -> None:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'unique.db'}")
    try:
        await _creates_twice(database)
    finally:
        await database.dispose()
