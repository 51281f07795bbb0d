"""A database outage longer than the handler's retries must not dead-letter good events: the
consumer waits for the database (found by the chaos run's PostgreSQL restart, where every
event consumed while the server was down went to the DLQ and its order timed out)."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
import sqlalchemy as sa
from sqlalchemy.engine.url import make_url

from chassis.consumer import ConsumerRunner, EventConsumer
from chassis.db import Database
from shared_events.catalog import ProductUnpublishedV1

from .conftest import NoDeadLetters, effects, polled_record, recording_unpublish
from .test_dead_letters import unpublished

pytestmark = pytest.mark.integration


class Cuttable:
    """A TCP forwarder in front of PostgreSQL that can be cut (listener closed, every
    connection dropped, as a server restart does) and restored on the same port."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.server: asyncio.Server | None = None
        self.pipes: set[asyncio.StreamWriter] = set()

    async def restore(self) -> None:
        self.server = await asyncio.start_server(self._accept, "127.0.0.1", self.port)
        self.port = self.server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in list(self.pipes):
            writer.close()
        await self.server.wait_closed()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(*self.target)
        self.pipes |= {writer, upstream_writer}
        await asyncio.gather(
            self._pipe(reader, upstream_writer), self._pipe(upstream_reader, writer)
        )

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                writer.write(data)
                await writer.drain()
        writer.close()
        self.pipes.discard(writer)


async def test_a_database_outage_waits_instead_of_dead_lettering(database: Database) -> None:
    url = make_url(database.url)
    proxy = Cuttable(url.host or "127.0.0.1", url.port or 5432)
    await proxy.restore()
    behind = Database(url.set(host="127.0.0.1", port=proxy.port).render_as_string(False))
    apply = recording_unpublish("outage", [])
    producer = NoDeadLetters()
    runner = ConsumerRunner(
        EventConsumer("outage-test", "outage.events", {ProductUnpublishedV1: apply}),
        behind,
        producer,  # type: ignore[arg-type]
        service="test",
        max_attempts=3,
        backoff_seconds=0.05,
        outage_backoff_cap_seconds=0.2,
    )
    record = polled_record("outage.events", unpublished("p-1", "k"))
    try:
        await behind.ping()  # a pooled connection, which the cut then drops
        await proxy.cut()
        handling = asyncio.create_task(runner.handle(record))  # type: ignore[arg-type]
        await asyncio.sleep(2.0)  # ten times what three attempts with backoff would take
        assert not handling.done() and producer.sent == []
        await proxy.restore()
        assert await asyncio.wait_for(handling, 20) == "handled"
    finally:
        await behind.dispose()
        if proxy.server is not None:
            proxy.server.close()
    assert producer.sent == []
    async with database.sessions() as session:
        count = (
            await session.exec(  # type: ignore[call-overload]
                sa.select(sa.func.count()).select_from(effects).where(effects.c.subject == "outage")
            )
        ).one()
    assert count[0] == 1
