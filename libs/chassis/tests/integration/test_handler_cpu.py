"""chassis.testing.handler_cpu: the CPU-per-event bench of a service's handlers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.engine import make_url
from sqlmodel import select

from chassis.consumer import Delivery, EventConsumer
from chassis.db import Database
from chassis.inbox import InboxRecord
from chassis.outbox import OutboxRecord
from chassis.runtime import Runtime
from chassis.settings import ServiceSettings
from chassis.testing.events import record_of
from chassis.testing.handler_cpu import HandlerBench, postgres_bench
from chassis.testing.harness import offline_runtime
from shared_events.catalog import ProductUnpublishedV1
from shared_events.topics import CATALOG_EVENTS

pytestmark = pytest.mark.integration

# The runtime's state is the list of products handled, in order.
BenchRuntime = Runtime[ServiceSettings, list[str]]


async def on_unpublished(delivery: Delivery[BenchRuntime], payload: ProductUnpublishedV1) -> None:
    """Notes the product as handled; fails for version 0."""
    if payload.version == 0:
        raise RuntimeError("a bug")
    delivery.runtime.state.append(payload.product_id)


CONSUMERS = [
    EventConsumer("test-catalog", CATALOG_EVENTS, {ProductUnpublishedV1: on_unpublished}),
]


async def create_inbox_and_outbox(database: Database) -> None:
    """The chassis tables a service's migrations would create."""
    metadata = OutboxRecord.metadata
    tables = [
        metadata.tables[OutboxRecord.__tablename__],
        metadata.tables[InboxRecord.__tablename__],
    ]
    async with database.engine.begin() as connection:
        await connection.run_sync(lambda c: metadata.create_all(c, tables=tables))


@pytest.fixture
async def bench(tmp_path: Path) -> AsyncIterator[HandlerBench[BenchRuntime]]:
    settings = ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'bench.db'}")
    handled: list[str] = []
    async with offline_runtime(settings, handled) as runtime:
        await create_inbox_and_outbox(runtime.database)
        yield HandlerBench.of(runtime, CONSUMERS, batch=2)


def unpublished(product_id: str, version: int = 1) -> ProductUnpublishedV1:
    return ProductUnpublishedV1(product_id=product_id, version=version)


async def test_a_phase_runs_through_the_runner_and_is_measured(
    bench: HandlerBench[BenchRuntime],
) -> None:
    line = await bench.run("unpublish", [record_of(unpublished(f"p-{i}")) for i in range(3)])
    assert line.startswith("unpublish ")
    assert "n=3 " in line and "in handler" in line and "whole runner" in line
    assert "DEAD-LETTERED" not in line
    assert bench.meter.seconds > 0
    assert bench.runtime.state == ["p-0", "p-1", "p-2"]  # in polls of 2 and 1
    async with bench.runtime.database.sessions() as session:
        claimed = (await session.exec(select(InboxRecord))).all()
    assert len(claimed) == 3  # through the inbox, as a running service handles them


async def test_a_failing_handler_is_told_on_the_line(bench: HandlerBench[BenchRuntime]) -> None:
    line = await bench.run("broken", [record_of(unpublished("p-0", version=0))])
    assert line.endswith("1 DEAD-LETTERED")
    assert [dead.topic for dead in bench.dead_letters] == [f"{CATALOG_EVENTS}.dlq"]


async def test_a_phase_needs_records_of_a_consumed_topic(
    bench: HandlerBench[BenchRuntime],
) -> None:
    with pytest.raises(ValueError, match="no records"):
        await bench.run("empty", [])
    record = record_of(unpublished("p-1"))
    record.topic = "order.events"
    with pytest.raises(LookupError, match=r"order\.events"):
        await bench.run("elsewhere", [record])


async def test_the_postgres_bench_runs_on_a_scratch_database_it_drops(
    postgres_admin_url: str,
) -> None:
    handled: list[str] = []
    async with postgres_bench(
        ServiceSettings(),
        handled,
        CONSUMERS,
        migrations=None,
        admin_url=postgres_admin_url,
        log_level=None,
    ) as bench:
        url = make_url(bench.runtime.settings.database_url)
        assert url.drivername == "postgresql+asyncpg"
        assert url.database is not None and url.database.startswith("bench_service_")
        await create_inbox_and_outbox(bench.runtime.database)
        line = await bench.run("unpublish", [record_of(unpublished("p-1"))])
        assert "n=1 " in line and "DEAD-LETTERED" not in line
        assert handled == ["p-1"]
    admin = make_url(postgres_admin_url.replace("postgresql+asyncpg", "postgresql"))
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        left = await connection.fetchval(
            "SELECT count(*) FROM pg_database WHERE datname = $1", url.database
        )
    finally:
        await connection.close()
    assert left == 0


async def test_phases_run_in_turn_and_print_a_line_each(
    bench: HandlerBench[BenchRuntime], capsys: pytest.CaptureFixture[str]
) -> None:
    await bench.run_phases(
        [("first", [unpublished("p-1"), unpublished("p-2")]), ("second", [unpublished("p-3")])]
    )
    lines = capsys.readouterr().out.splitlines()
    assert [line.split()[:2] for line in lines] == [["first", "n=2"], ["second", "n=1"]]
    assert bench.runtime.state == ["p-1", "p-2", "p-3"]
