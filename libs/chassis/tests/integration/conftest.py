from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from chassis.consumer import Delivery
from chassis.db import Database
from chassis.inbox import InboxRecord
from chassis.outbox import OutboxRecord
from chassis.producer import EventProducer
from chassis.testing.infra import DatabaseFactory
from shared_events import Envelope, to_kafka
from shared_events.catalog import ProductUnpublishedV1

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


class NoDeadLetters:
    """The producer's dead-letter path, recording instead of sending."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_raw(self, topic: str, *_: object) -> None:
        self.sent.append(topic)


def recording_unpublish(
    subject: str, applied: list[str]
) -> Callable[[Delivery, ProductUnpublishedV1], Awaitable[None]]:
    """A handler that notes each product it is given and writes one effect row under
    `subject` in the delivery's transaction (so a commit can be counted)."""

    async def apply(delivery: Delivery, payload: ProductUnpublishedV1) -> None:
        applied.append(payload.product_id)
        await delivery.session.exec(  # type: ignore[call-overload]
            sa.insert(effects).values(event_id=str(delivery.envelope.id), subject=subject)
        )

    return apply


def polled_record(topic: str, envelope: Envelope) -> SimpleNamespace:
    """`envelope` as the consumer would receive it from a poll (offset 0 of partition 0)."""
    event = to_kafka(envelope)
    return SimpleNamespace(
        topic=topic, partition=0, offset=0, key=event.key, value=event.value, headers=event.headers
    )


def handler_outcomes(consumer: str) -> dict[str, int]:
    """How many events the consumer named `consumer` handled, skipped as duplicates, ...,
    read from the `event_handler_duration_seconds` histogram as /metrics would show it."""
    counts: dict[str, int] = {}
    for metric in REGISTRY.collect():
        for sample in metric.samples:
            if (
                sample.name == "event_handler_duration_seconds_count"
                and sample.labels.get("consumer") == consumer
                and sample.value
            ):
                outcome = sample.labels["outcome"]
                counts[outcome] = counts.get(outcome, 0) + int(sample.value)
    return counts
