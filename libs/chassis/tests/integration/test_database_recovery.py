"""The pool has no pre-ping (chassis.db): connections the server closed must not make work fail
for long. Killed with pg_terminate_backend (this test database's connections only, as a
server restart would), the pool hands out fresh connections; at most the first use of a stale
connection fails, and that failure reads as an outage, which callers retry."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest
import sqlalchemy as sa
from sqlalchemy.engine.url import make_url

from chassis.consumer import ConsumerRunner, EventConsumer
from chassis.db import Database, is_unavailable
from shared_events.catalog import ProductUnpublishedV1

from .conftest import NoDeadLetters, polled_record, recording_unpublish
from .test_dead_letters import unpublished

pytestmark = pytest.mark.integration


async def terminate_connections(database: Database) -> int:
    """pg_terminate_backend every other session of this test database (never the server)."""
    url = make_url(database.url).set(drivername="postgresql")
    conn = await asyncpg.connect(url.render_as_string(hide_password=False))
    try:
        killed = await conn.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await conn.close()
    return len(killed)


async def warm_pool(database: Database, connections: int) -> None:
    """Check out `connections` connections at once, so the pool holds that many."""
    hold = asyncio.Event()

    async def use() -> None:
        async with database.transaction() as session:
            await session.exec(sa.select(sa.literal(1)))  # type: ignore[call-overload]
            await hold.wait()

    tasks = [asyncio.create_task(use()) for _ in range(connections)]
    await asyncio.sleep(0.5)
    hold.set()
    await asyncio.gather(*tasks)


async def select_one(database: Database) -> int:
    async with database.transaction() as session:
        return int((await session.exec(sa.select(sa.literal(1)))).one()[0])  # type: ignore[call-overload]


async def test_transactions_recover_after_the_servers_connections_are_killed(
    database: Database,
) -> None:
    await warm_pool(database, 4)
    assert database.engine.pool.checkedin() == 4  # type: ignore[attr-defined]
    assert await terminate_connections(database) >= 4
    await asyncio.sleep(0.2)  # the server's close reaches the idle sockets
    failures: list[BaseException] = []
    for _ in range(8):  # more uses than stale connections
        try:
            assert await select_one(database) == 1
        except Exception as error:
            failures.append(error)
    # asyncpg saw the server close the idle sockets, so the checkout check (chassis.db
    # _drop_closed) replaced every stale connection before use: nothing failed.
    assert failures == []
    # Concurrent work at once after the kill (no time to notice the closes): a use may fail
    # as an outage, which is what callers retry; right after, everything works.
    await warm_pool(database, 4)
    await terminate_connections(database)
    outcomes = await asyncio.gather(
        *(select_one(database) for _ in range(4)), return_exceptions=True
    )
    assert [o for o in outcomes if o != 1 and not is_unavailable(o)] == []  # type: ignore[arg-type]
    assert await asyncio.gather(*(select_one(database) for _ in range(4))) == [1, 1, 1, 1]


async def test_a_consumer_handles_an_event_after_its_connections_are_killed(
    database: Database,
) -> None:
    applied: list[str] = []
    apply = recording_unpublish("killed", applied)
    producer = NoDeadLetters()
    runner = ConsumerRunner(
        EventConsumer("killed-test", "killed.events", {ProductUnpublishedV1: apply}),
        database,
        producer,  # type: ignore[arg-type]
        service="test",
        max_attempts=1,  # a counted failure would dead-letter at once
        backoff_seconds=0.05,
    )
    await warm_pool(database, 2)
    await terminate_connections(database)
    record = polled_record("killed.events", unpublished("p-killed", "k"))
    assert await asyncio.wait_for(runner.handle(record), 20) == "handled"  # type: ignore[arg-type]
    assert producer.sent == [] and applied == ["p-killed"]
