"""The whole payment flow on SQLite (the development default), through the chassis consumer
path (envelope -> inbox -> handler -> outbox, one transaction) without a broker."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from chassis.cache import create_redis
from chassis.consumer import ConsumerRunner
from chassis.db import Database
from chassis.migrations import upgrade_async
from chassis.outbox import OutboxRecord
from chassis.producer import EventProducer
from chassis.runtime import assemble_runtime
from payment_service.adapters.providers import SandboxProvider
from payment_service.config import MIGRATIONS_DIR, PaymentSettings
from payment_service.deps import PaymentState
from payment_service.handlers import CONSUMERS
from payment_service.tables import LedgerEntryRow, PaymentIntentRow
from shared_events import Envelope, EventPayload, registry, to_kafka
from shared_events.money import Money
from shared_events.order import OrderCancelledV1, OrderConfirmedV1, PaymentRequestedV1
from shared_events.topics import ORDER_EVENTS


@dataclass
class Record:
    """What ConsumerRunner reads of a Kafka record."""

    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    topic: str = ORDER_EVENTS
    partition: int = 0
    offset: int = 0


@dataclass
class Harness:
    database: Database
    runner: ConsumerRunner
    outcomes: list[str] = field(default_factory=list)

    async def deliver(
        self, payload: EventPayload, order_id: str, event_id: uuid.UUID | None = None
    ) -> Envelope:
        envelope = registry.envelope(
            payload,
            subject=order_id,
            source="/services/order",
            id=event_id or uuid.uuid4(),
        )
        record = to_kafka(envelope)
        outcome = await self.runner.handle(Record(record.key, record.value, record.headers))
        self.outcomes.append(outcome)
        return envelope

    async def published(self, order_id: str) -> list[tuple[str, dict[str, object]]]:
        async with self.database.sessions() as session:
            rows = await session.exec(
                select(OutboxRecord)
                .where(OutboxRecord.subject == order_id)
                .order_by(col(OutboxRecord.id))
            )
            return [(r.event_type, json.loads(r.data)) for r in rows]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'payment.db'}"
    await upgrade_async(MIGRATIONS_DIR, url)
    database = Database(url)
    settings = PaymentSettings(database_url=url, risk_velocity_max=2, provider_backoff_seconds=0)
    # Neither is started: nothing here reaches Redis, and only the dead-letter path would send.
    redis = create_redis(settings.redis_url)
    producer = EventProducer(settings.kafka_bootstrap_servers)
    state = PaymentState.build(settings, SandboxProvider())
    runtime = assemble_runtime(settings, database, redis, producer, state)
    [consumer] = CONSUMERS
    runner = ConsumerRunner(
        consumer,
        database,
        producer,
        service="payment",
        outbox=runtime.outbox,
        runtime=runtime,
        max_attempts=1,
    )
    yield Harness(database, runner)
    await producer.stop()
    await redis.aclose()
    await database.dispose()


def requested(order_id: str, member_id: str, card: str = "tok_visa") -> PaymentRequestedV1:
    return PaymentRequestedV1(
        order_id=order_id,
        member_id=member_id,
        amount=Money(amount=2_000, currency="USD"),
        payment_token=card,
    )


async def test_authorize_capture_refund_on_sqlite(harness: Harness) -> None:
    order_id, member = "o-1", "m-1"
    await harness.deliver(requested(order_id, member), order_id)
    confirmed = OrderConfirmedV1(
        order_id=order_id, member_id=member, total=Money(amount=2_000, currency="USD")
    )
    first = await harness.deliver(confirmed, order_id)
    await harness.deliver(confirmed, order_id, event_id=first.id)
    await harness.deliver(confirmed, order_id)
    cancelled = OrderCancelledV1(
        order_id=order_id, member_id=member, reason="CANCELLED_BY_CUSTOMER", was_confirmed=True
    )
    await harness.deliver(cancelled, order_id)
    assert harness.outcomes == ["handled", "handled", "duplicate", "handled", "handled"]
    published = await harness.published(order_id)
    assert [t for t, _ in published] == [
        "payment.payment.authorized",
        "payment.payment.captured",
        "payment.payment.refunded",
    ]
    async with harness.database.sessions() as session:
        intent = (await session.exec(select(PaymentIntentRow))).one()
        kinds = [e.kind for e in (await session.exec(select(LedgerEntryRow))).all()]
        assert (intent.status, intent.captured_amount, intent.refunded_amount) == (
            "REFUNDED",
            2_000,
            2_000,
        )
        assert kinds == ["AUTHORIZE", "CAPTURE", "REFUND"]
        # The partial unique index works on SQLite too.
        session.add(
            LedgerEntryRow(
                entry_id=str(uuid.uuid4()),
                intent_id=intent.id,
                kind="CAPTURE",
                amount=1,
                currency="USD",
                at=intent.created_at,
            )
        )
        with pytest.raises(IntegrityError):
            await session.flush()


async def test_velocity_counts_attempts_but_not_risk_rejections(harness: Harness) -> None:
    member = "m-fast"
    for i, card in enumerate(["tok_visa", "tok_chargeDeclined"]):  # a decline counts
        await harness.deliver(requested(f"o-v{i}", member, card), f"o-v{i}")
    for order_id in ("o-v2", "o-v3"):
        await harness.deliver(requested(order_id, member), order_id)
        [(event_type, data)] = await harness.published(order_id)
        assert (event_type, data["reason"]) == ("payment.payment.failed", "RISK_REJECTED")
    # Another member is not affected.
    await harness.deliver(requested("o-other", "m-slow"), "o-other")
    [(event_type, _)] = await harness.published("o-other")
    assert event_type == "payment.payment.authorized"
