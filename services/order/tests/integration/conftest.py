"""The order service's own tables on both databases it runs on: PostgreSQL, and SQLite (the
`make run` default)."""

from __future__ import annotations

from pathlib import Path

import pytest

from chassis.testing.infra import DatabaseFactory


@pytest.fixture(params=["postgresql", "sqlite"])
async def database_url(
    request: pytest.FixtureRequest, create_database: DatabaseFactory, tmp_path: Path
) -> str:
    if request.param == "postgresql":
        return await create_database("order")
    return f"sqlite+aiosqlite:///{tmp_path / 'order.db'}"
