from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import sqlalchemy as sa

from chassis.db import Database
from chassis.inbox import InboxRecord
from chassis.outbox import OutboxRecord
from chassis.producer import EventProducer
from chassis.testing.plugin import DatabaseFactory

pytestmark = pytest.mark.integration

# A table a test handler writes its effect to: one row per applied event.
effects_metadata = sa.MetaData()
effects = sa.Table(
    "effects",
    effects_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.String(36), nullable=False),
    sa.Column("subject", sa.String(100), nullable=False),
)


@pytest.fixture
async def database(create_database: DatabaseFactory) -> AsyncIterator[Database]:
    db = Database(await create_database("chassis"))
    async with db.engine.begin() as conn:
        await conn.run_sync(
            lambda c: OutboxRecord.metadata.create_all(
                c,
                tables=[OutboxRecord.__table__, InboxRecord.__table__],  # type: ignore[list-item]
            )
        )
        await conn.run_sync(effects_metadata.create_all)
    yield db
    await db.dispose()


@pytest.fixture
async def producer(kafka_bootstrap_servers: str) -> AsyncIterator[EventProducer]:
    p = EventProducer(kafka_bootstrap_servers)
    await p.start()
    yield p
    await p.stop()
