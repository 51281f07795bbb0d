"""Outbox and inbox on real PostgreSQL and a real Kafka-protocol broker."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from unittest.mock import patch

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from chassis.broker import make_broker, subscribe
from chassis.consumer import (
    ConsumerRunner,
    Delivery,
    EventConsumer,
    IncomingRecord,
    ServiceConsumer,
)
from chassis.db import Database
from chassis.outbox import EventTooLarge, Outbox, OutboxRecord, OutboxRelay
from chassis.producer import EventProducer, OutgoingRecord, ensure_topics
from chassis.settings import ServiceSettings
from chassis.testing.kafka import header, read_keyed
from chassis.testing.polling import eventually
from chassis.testing.statements import statements_sent
from shared_events import Envelope
from shared_events.catalog import ProductUnpublishedV1
from shared_events.topics import CATALOG_EVENTS, MAX_RECORD_BYTES

from .conftest import effects, handler_outcomes

pytestmark = pytest.mark.integration


async def stage_unpublished(db: Database, outbox: Outbox, product_id: str) -> Envelope:
    async with db.transaction() as session:
        return outbox.stage(
            session, ProductUnpublishedV1(product_id=product_id, version=2), subject=product_id
        )


async def unsent(db: Database) -> int:
    async with db.sessions() as session:
        rows = await session.exec(select(OutboxRecord).where(col(OutboxRecord.sent_at).is_(None)))
        return len(rows.all())


async def test_relay_down_after_commit_loses_nothing(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    await ensure_topics(kafka_bootstrap_servers, [CATALOG_EVENTS])
    outbox = Outbox("/services/test")
    product_id = f"p-{uuid.uuid4()}"
    envelope = await stage_unpublished(database, outbox, product_id)
    # The business transaction committed; no relay ran: the event waits in the table.
    assert await unsent(database) == 1

    relay = OutboxRelay(database, outbox, producer, service="test", poll_seconds=0.05)
    relay.start()  # the relay comes back
    try:
        records = await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 1)
        # The sweep marks the row sent in its transaction, once the broker has acknowledged:
        # a moment after the record can be read.
        assert await eventually(lambda: unsent(database), lambda n: n == 0) == 0
    finally:
        await relay.stop()
    assert [header(r, "ce_id") for r in records] == [str(envelope.id)]
    assert await relay.backlog() == 0


async def test_an_event_larger_than_a_record_may_be_is_refused_and_nothing_is_written(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    """Committed, the broker would refuse it on every try and the relay, sending in order,
    would send nothing after it: the writer's transaction gets a 422 instead."""
    await ensure_topics(kafka_bootstrap_servers, [CATALOG_EVENTS])
    outbox = Outbox("/services/test")
    before = await unsent(database)
    huge = "p-" + "x" * (MAX_RECORD_BYTES // 2)  # in the key and in the data: past the cap
    with pytest.raises(EventTooLarge) as refused:
        await stage_unpublished(database, outbox, huge)
    assert (refused.value.status, refused.value.code) == (422, "event-too-large")
    assert await unsent(database) == before and outbox.pending == []
    # The next event goes out as usual.
    relay = OutboxRelay(database, outbox, producer, service="test", poll_seconds=0.05)
    relay.start()
    try:
        product_id = f"p-{uuid.uuid4()}"
        envelope = await stage_unpublished(database, outbox, product_id)
        records = await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 1)
    finally:
        await relay.stop()
    assert [header(r, "ce_id") for r in records] == [str(envelope.id)]


async def test_relay_keeps_an_aggregates_events_in_order(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    await ensure_topics(kafka_bootstrap_servers, [CATALOG_EVENTS])
    outbox = Outbox("/services/test")
    product_id = f"p-{uuid.uuid4()}"
    ids = [str((await stage_unpublished(database, outbox, product_id)).id) for _ in range(30)]
    relay = OutboxRelay(database, outbox, producer, service="test", batch_size=7)
    while await relay.relay_batch():
        pass
    records = await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 30)
    assert [header(r, "ce_id") for r in records] == ids


async def test_a_commit_read_by_a_sweep_is_not_published_again_from_memory(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    await ensure_topics(kafka_bootstrap_servers, [CATALOG_EVENTS])
    outbox = Outbox("/services/test")
    relay = OutboxRelay(database, outbox, producer, service="test")
    product_id = f"p-{uuid.uuid4()}"
    # The commit lands while the relay sweeps: the sweep reads its row from the table, and the
    # commit's hand-over puts the same record in memory.
    first = await stage_unpublished(database, outbox, product_id)
    assert await relay.relay_batch() == 1
    await relay.publish(outbox.take())  # already sent by the sweep: nothing goes out
    second = await stage_unpublished(database, outbox, product_id)
    await relay.publish(outbox.take())  # a later commit goes out from memory as usual
    await relay.mark_published()

    records = await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 2)
    assert [header(r, "ce_id") for r in records] == [str(first.id), str(second.id)]
    assert await unsent(database) == 0


async def test_rows_published_from_memory_are_marked_sent_together_in_one_statement(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    await ensure_topics(kafka_bootstrap_servers, [CATALOG_EVENTS])
    outbox = Outbox("/services/test")
    relay = OutboxRelay(database, outbox, producer, service="test", mark_seconds=60)
    product_id = f"p-{uuid.uuid4()}"
    ids = []
    for _ in range(3):  # three commits, each published from memory as it lands
        ids.append(str((await stage_unpublished(database, outbox, product_id)).id))
        await relay.publish(outbox.take())
    records = await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 3)
    assert [header(r, "ce_id") for r in records] == ids
    assert await unsent(database) == 3  # sent, not marked yet

    with statements_sent(database.engine) as statements:
        await relay.mark_published()
    assert [s.split()[0] for s in statements] == ["UPDATE"]  # one, no transaction around it
    assert await unsent(database) == 0


async def test_the_running_relay_marks_within_mark_seconds_and_at_stop(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    await ensure_topics(kafka_bootstrap_servers, [CATALOG_EVENTS])
    outbox = Outbox("/services/test")
    quick = OutboxRelay(database, outbox, producer, service="test", mark_seconds=0.2)
    quick.start()
    try:
        product_id = f"p-{uuid.uuid4()}"
        await stage_unpublished(database, outbox, product_id)
        await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 1)
        assert await eventually(lambda: unsent(database), lambda n: n == 0) == 0
    finally:
        await quick.stop()

    product_id = f"p-{uuid.uuid4()}"
    await stage_unpublished(database, outbox, product_id)  # the start's sweep sends and marks it
    slow = OutboxRelay(database, outbox, producer, service="test", mark_seconds=600)
    slow.start()
    try:
        await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 1)
        await stage_unpublished(database, outbox, product_id)  # the sweep is over: from memory
        await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 2)
        assert await unsent(database) == 1  # published, its mark not due for ten minutes
    finally:
        await slow.stop()
    assert await unsent(database) == 0  # marked at stop: a restart does not publish it again


async def catalog_outbox(kafka_bootstrap_servers: str) -> Outbox:
    """A test service's outbox, with the topic its events go to."""
    await ensure_topics(kafka_bootstrap_servers, [CATALOG_EVENTS])
    return Outbox("/services/test")


@contextmanager
def held_sends(producer: EventProducer) -> Iterator[tuple[asyncio.Event, asyncio.Event]]:
    """Inside, the broker acknowledges nothing until the first event is set; sends wait for
    it. The second is set once a send has begun."""
    acknowledge, begun = asyncio.Event(), asyncio.Event()
    send_batch = producer.send_batch

    async def held(records: list[OutgoingRecord]) -> None:
        begun.set()
        await acknowledge.wait()
        await send_batch(records)

    with patch.object(producer, "send_batch", held):
        yield acknowledge, begun


async def test_a_stop_drains_what_was_handed_over_for_at_most_its_drain_time(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    outbox = await catalog_outbox(kafka_bootstrap_servers)
    relay = OutboxRelay(database, outbox, producer, service="test", mark_seconds=600)
    relay.start()
    product_id = f"p-{uuid.uuid4()}"
    first = await stage_unpublished(database, outbox, product_id)
    await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 1)
    with held_sends(producer) as (acknowledge, begun):
        second = await stage_unpublished(database, outbox, product_id)
        await asyncio.wait_for(begun.wait(), 10)  # its send is in flight
        third = await stage_unpublished(database, outbox, product_id)  # handed over behind it
        asyncio.get_running_loop().call_later(0.3, acknowledge.set)  # after the stop began
        await relay.stop()
    # Both went out at the stop, in commit order, and are marked: a restart sends neither again.
    records = await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 3)
    assert [header(r, "ce_id") for r in records] == [str(e.id) for e in (first, second, third)]
    assert await unsent(database) == 0

    # The broker silent past the drain time: the stop gives up, the row stays in the table.
    silent = OutboxRelay(database, outbox, producer, service="test")
    silent.start()
    with held_sends(producer):
        fourth = await stage_unpublished(database, outbox, product_id)
        await asyncio.wait_for(silent.stop(drain_seconds=0.2), 10)
        assert await unsent(database) == 1
    # The broker answers again: the next start's sweep sends it, once.
    assert await OutboxRelay(database, outbox, producer, service="test").relay_batch() == 1
    records = await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 4)
    assert [header(r, "ce_id") for r in records[3:]] == [str(fourth.id)]


async def test_crash_between_publish_and_mark_gives_a_duplicate_the_inbox_skips(
    database: Database,
    producer: EventProducer,
    kafka_bootstrap_servers: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    await ensure_topics(kafka_bootstrap_servers, [CATALOG_EVENTS])
    outbox = Outbox("/services/test")
    product_id = f"p-{uuid.uuid4()}"
    envelope = await stage_unpublished(database, outbox, product_id)

    crashing = OutboxRelay(database, outbox, producer, service="test")

    async def crash(*_: object) -> None:
        raise RuntimeError("process died before marking the batch sent")

    monkeypatch.setattr(crashing, "mark_sent", crash)
    with pytest.raises(RuntimeError):
        await crashing.relay_batch()  # published, then crashed: the row stays unsent
    assert await unsent(database) == 1
    restarted = OutboxRelay(database, outbox, producer, service="test")
    assert await restarted.relay_batch() == 1  # publishes the same event again

    records = await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 2)
    assert [header(r, "ce_id") for r in records] == [str(envelope.id)] * 2

    # A real consumer (FastStream, own group) sees both copies; the effect happens once.
    async def apply(delivery: Delivery, payload: ProductUnpublishedV1) -> None:
        await delivery.session.exec(  # type: ignore[call-overload]
            sa.insert(effects).values(
                event_id=str(delivery.envelope.id), subject=payload.product_id
            )
        )

    runner = ConsumerRunner(
        EventConsumer(
            f"test-{uuid.uuid4().hex[:6]}", CATALOG_EVENTS, {ProductUnpublishedV1: apply}
        ),
        database,
        producer,
        service="test",
    )
    key = product_id.encode()

    class ThisProductOnly(ServiceConsumer):
        """The topic holds other tests' events too: hand the runner only this product's."""

        async def handle_batch(self, records: Sequence[IncomingRecord], c: int = 1) -> None:
            await super().handle_batch([r for r in records if r.key == key], c)

    broker = make_broker(ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers))
    subscribe(broker, ThisProductOnly([runner]), group_id=runner.consumer.name)
    await broker.start()
    try:
        for _ in range(200):
            if sum(handler_outcomes(runner.consumer.name).values()) >= 2:
                break
            await asyncio.sleep(0.1)
    finally:
        await broker.stop()
    outcomes = handler_outcomes(runner.consumer.name)
    assert outcomes == {"handled": 1, "duplicate": 1}
    async with database.sessions() as session:
        applied = (
            await session.exec(  # type: ignore[call-overload]
                sa.select(effects.c.event_id).where(effects.c.subject == product_id)
            )
        ).all()
    assert [row[0] for row in applied] == [str(envelope.id)]


@contextmanager
def commit_answer_lost(db: Database) -> Iterator[None]:
    """Inside, each COMMIT of `db` is made by the server, then its connection drops before
    the answer arrives: the client sees a disconnect, as when a network fails at that moment."""
    dialect = db.engine.sync_engine.dialect
    commit = dialect.do_commit

    def commit_then_drop(dbapi_connection: Any) -> None:
        commit(dbapi_connection)
        dbapi_connection.driver_connection.terminate()
        raise dialect.loaded_dbapi.InterfaceError("connection is closed")

    with patch.object(dialect, "do_commit", commit_then_drop):
        yield


async def test_a_commit_whose_answer_was_lost_is_not_overtaken_by_later_ones(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    """The commit landed but its hand-over never ran: the relay reads the table, in id order,
    before sending anything more from memory, so the aggregate's events keep their order
    (not the lost one after the next commit, at the next sweep)."""
    outbox = await catalog_outbox(kafka_bootstrap_servers)
    relay = OutboxRelay(database, outbox, producer, service="test", poll_seconds=0.5)
    relay.start()
    writer = Database(database.url)  # the connection that fails; the relay's are fine
    product_id = f"p-{uuid.uuid4()}"
    try:
        first = await stage_unpublished(writer, outbox, product_id)
        await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 1)
        with commit_answer_lost(writer), pytest.raises(sa.exc.DBAPIError):
            await stage_unpublished(writer, outbox, product_id)
        third = await stage_unpublished(writer, outbox, product_id)
        records = await read_keyed(kafka_bootstrap_servers, CATALOG_EVENTS, product_id, 3)
    finally:
        await relay.stop()
        await writer.dispose()
    async with database.sessions() as session:
        rows = select(OutboxRecord.event_id).where(OutboxRecord.subject == product_id)
        lost = (await session.exec(rows.order_by(col(OutboxRecord.id)))).all()
    assert len(lost) == 3  # committed after all
    ids = [str(first.id), str(lost[1]), str(third.id)]
    assert [header(r, "ce_id") for r in records] == ids
