"""Retention of the inbox and the outbox on real PostgreSQL: old inbox rows go in batches and
the recent ones still drop redeliveries; sent outbox rows go once past the window, an unsent
row never (the relay still publishes it)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from chassis.consumer import ConsumerRunner, EventConsumer
from chassis.db import Database
from chassis.inbox import INBOX, claim
from chassis.outbox import OUTBOX, Outbox, OutboxRelay
from chassis.producer import EventProducer, ensure_topics
from chassis.retention import delete_old_inbox_rows, delete_sent_outbox_rows
from chassis.testing.kafka import header, read_envelopes, read_records
from shared_events import Envelope, registry
from shared_events.catalog import ProductUnpublishedV1
from shared_events.topics import CATALOG_EVENTS

from .conftest import polled_record, recording_unpublish

pytestmark = pytest.mark.integration

KEEP_INBOX = timedelta(days=31)


async def handled(
    database: Database, consumer: str, days_ago: float, count: int
) -> list[uuid.UUID]:
    """`count` events `consumer` handled `days_ago` days ago."""
    at = datetime.now(UTC) - timedelta(days=days_ago)
    ids = [uuid.uuid4() for _ in range(count)]
    rows = [
        {"consumer": consumer, "event_id": i, "event_type": "t", "processed_at": at} for i in ids
    ]
    async with database.transaction() as session:
        await session.exec(sa.insert(INBOX), params=rows)  # type: ignore[call-overload]
    return ids


async def inbox_ids(database: Database, consumer: str) -> set[uuid.UUID]:
    query = sa.select(INBOX.c.event_id).where(INBOX.c.consumer == consumer)
    async with database.sessions() as session:
        return set((await session.exec(query)).scalars())  # type: ignore[call-overload]


async def test_old_inbox_rows_go_in_batches_and_recent_ones_still_drop_redeliveries(
    database: Database,
) -> None:
    consumer = f"retention-{uuid.uuid4().hex[:8]}"
    old = await handled(database, consumer, days_ago=32, count=7)
    recent = await handled(database, consumer, days_ago=30, count=3)

    deleted = await delete_old_inbox_rows(database, keep=KEEP_INBOX, batch_size=3)

    assert deleted == 7  # the test's own database: only its rows
    assert await inbox_ids(database, consumer) == set(recent)
    async with database.transaction() as session:
        # Within the window a redelivery is still dropped; past it, it would be applied again
        # (which is why the window outlives the topics' retention).
        assert await claim(session, consumer, recent[0], "t") is False
        assert await claim(session, consumer, old[0], "t") is True


async def test_a_round_stops_after_its_batches_and_the_next_takes_the_rest(
    database: Database,
) -> None:
    consumer = f"retention-{uuid.uuid4().hex[:8]}"
    await handled(database, consumer, days_ago=40, count=10)
    assert await delete_old_inbox_rows(database, keep=KEEP_INBOX, batch_size=2, max_batches=2) == 4
    assert len(await inbox_ids(database, consumer)) == 6
    assert await delete_old_inbox_rows(database, keep=KEEP_INBOX, batch_size=50) == 6
    assert await inbox_ids(database, consumer) == set()


async def outbox_rows(database: Database, event_ids: list[uuid.UUID]) -> dict[uuid.UUID, bool]:
    """event id -> sent, for the rows still there."""
    query = sa.select(OUTBOX.c.event_id, OUTBOX.c.sent_at.is_not(None)).where(
        OUTBOX.c.event_id.in_(event_ids)
    )
    async with database.sessions() as session:
        return {row[0]: bool(row[1]) for row in (await session.exec(query)).all()}  # type: ignore[call-overload]


async def test_sent_outbox_rows_go_past_the_window_and_an_unsent_row_never(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    await ensure_topics(kafka_bootstrap_servers, [CATALOG_EVENTS])
    outbox = Outbox("/services/test")
    product_id = f"p-{uuid.uuid4()}"
    async with database.transaction() as session:
        staged = [
            outbox.stage(
                session, ProductUnpublishedV1(product_id=product_id, version=n), subject=product_id
            )
            for n in (1, 2, 3, 4)
        ]
    old_sent, sent_late, old_unsent, recent_sent = ids = [envelope.id for envelope in staged]
    now, two_hours_ago = datetime.now(UTC), datetime.now(UTC) - timedelta(hours=2)
    times = {
        old_sent: (two_hours_ago, two_hours_ago),
        sent_late: (two_hours_ago, now),  # staged long ago, sent only now (a broker outage)
        old_unsent: (two_hours_ago, None),
        recent_sent: (now, now),
    }
    async with database.transaction() as session:
        for event_id, (created_at, sent_at) in times.items():
            await session.exec(  # type: ignore[call-overload]
                sa.update(OUTBOX)
                .where(OUTBOX.c.event_id == event_id)
                .values(created_at=created_at, sent_at=sent_at)
            )

    deleted = await delete_sent_outbox_rows(database, keep=timedelta(hours=1), batch_size=1)

    assert deleted == 1
    assert await outbox_rows(database, ids) == {
        sent_late: True,
        old_unsent: False,
        recent_sent: True,
    }
    # The unsent row is still the relay's to publish.
    relay = OutboxRelay(database, outbox, producer, service="retention-test")
    assert await relay.relay_batch() == 1
    published = await read_envelopes(
        kafka_bootstrap_servers, CATALOG_EVENTS, key=product_id, until=lambda e: len(e) >= 1
    )
    assert [envelope.id for envelope in published] == [old_unsent]
    assert await delete_sent_outbox_rows(database, keep=timedelta(0)) == 3
    assert await outbox_rows(database, ids) == {}


async def test_nothing_old_means_nothing_deleted(database: Database) -> None:
    consumer = f"retention-{uuid.uuid4().hex[:8]}"
    recent = await handled(database, consumer, days_ago=1, count=2)
    await delete_old_inbox_rows(database, keep=KEEP_INBOX)
    assert await inbox_ids(database, consumer) == set(recent)
    assert await delete_sent_outbox_rows(database, keep=timedelta(days=365)) == 0


async def test_an_event_older_than_the_inbox_remembers_is_dead_lettered_not_applied(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    # A dead letter replayed weeks after its event, then read again from its topic: the inbox
    # may have forgotten it, so it is set aside for an operator instead of applied twice.
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"])
    applied: list[str] = []
    runner = ConsumerRunner(
        EventConsumer(
            "window-test", topic, {ProductUnpublishedV1: recording_unpublish("w", applied)}
        ),
        database,
        producer,
        service="test",
        dedupe_window=timedelta(days=30),
    )

    def made(days_ago: float, product_id: str) -> Envelope:
        envelope = registry.envelope(
            ProductUnpublishedV1(product_id=product_id, version=1), subject=product_id
        )
        return envelope.model_copy(update={"time": datetime.now(UTC) - timedelta(days=days_ago)})

    old, recent = made(31, "p-old"), made(29, "p-recent")
    naive_old = old.model_copy(update={"id": uuid.uuid4(), "time": old.time.replace(tzinfo=None)})
    outcomes = [await runner.handle(polled_record(topic, e)) for e in (old, recent, naive_old)]

    assert outcomes == ["dead-lettered", "handled", "dead-lettered"]
    assert applied == ["p-recent"]
    dead = await read_records(
        kafka_bootstrap_servers, f"{topic}.dlq", until=lambda kept: len(kept) >= 2
    )
    assert [header(record, "ce_id") for record in dead] == [str(old.id), str(naive_old.id)]
    assert "may have been handled already" in (header(dead[0], "dlq_error") or "")
