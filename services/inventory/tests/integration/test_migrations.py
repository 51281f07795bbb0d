"""Replicas that start together migrate one database at once (Kubernetes init containers,
compose one-shots): the chassis serialises them with an advisory lock, so all succeed."""

from __future__ import annotations

import asyncio
import os
import sys

import pytest
import sqlalchemy as sa

from chassis.db import Database
from chassis.testing.infra import DatabaseFactory

pytestmark = pytest.mark.integration
REPLICAS = 4


async def migrate(url: str) -> tuple[int, str]:
    """`python -m inventory_service migrate`, the image's migration step, as its own process."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "inventory_service",
        "migrate",
        env={**os.environ, "INVENTORY_DATABASE_URL": url, "LOG_LEVEL": "WARNING"},
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await process.communicate()
    return process.returncode or 0, output.decode(errors="replace")[-2000:]


@pytest.mark.parametrize("round_", range(2))
async def test_replicas_migrating_one_database_at_once_all_succeed(
    create_database: DatabaseFactory, round_: int
) -> None:
    url = await create_database("inventory")
    results = await asyncio.gather(*(migrate(url) for _ in range(REPLICAS)))
    assert [output for status, output in results if status != 0] == []
    database = Database(url)
    try:
        async with database.engine.connect() as conn:
            versions = (
                await conn.execute(sa.text("SELECT version_num FROM alembic_version"))
            ).all()
            stock = (await conn.execute(sa.text("SELECT count(*) FROM stock"))).scalar()
    finally:
        await database.dispose()
    assert (len(versions), stock) == (1, 0)  # one head, recorded once; the tables are there
