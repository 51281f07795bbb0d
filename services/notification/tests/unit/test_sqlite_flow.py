"""The whole path on SQLite (the development default), without a broker: events through the
chassis consumer (envelope -> inbox -> handler, one transaction), the delivery rows, and the
dispatch job with in-memory channels (failures on demand), retries and published outcomes."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from chassis.consumer import ConsumerRunner, Delivery
from chassis.db import Database
from chassis.migrations import upgrade_async
from chassis.outbox import OutboxRecord
from chassis.runtime import assemble_runtime
from notification_service.adapters.channel import DeliveryError, Message
from notification_service.adapters.sms import SandboxSms
from notification_service.config import MIGRATIONS_DIR, NotificationSettings
from notification_service.deps import NotificationRuntime, NotificationState
from notification_service.domain.channels import Channel
from notification_service.domain.notices import notice_for
from notification_service.handlers import CONSUMERS
from notification_service.service import notify, preferences
from notification_service.service.cache import NotificationCache
from notification_service.service.dispatch import send_due
from notification_service.service.rendering import Renderer
from notification_service.tables import DeliveryRow, RecipientRow
from shared_events import Envelope, EventPayload, registry, to_kafka
from shared_events.membership import MemberRegisteredV1, MemberUpdatedV1
from shared_events.money import Money
from shared_events.order import OrderConfirmedV1, OrderShippedV1


@dataclass
class Record:
    """What ConsumerRunner reads of a Kafka record."""

    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    topic: str = "t"
    partition: int = 0
    offset: int = 0


@dataclass
class FakeEmail:
    """Takes messages, or fails with `failures` (one per attempt) first."""

    sent: list[Message] = field(default_factory=list)
    failures: list[DeliveryError] = field(default_factory=list)

    async def send(self, message: Message) -> None:
        if self.failures:
            raise self.failures.pop(0)
        self.sent.append(message)

    async def close(self) -> None:
        pass


@dataclass
class Harness:
    database: Database
    runners: dict[str, ConsumerRunner]
    runtime: NotificationRuntime
    email: FakeEmail
    sms: SandboxSms

    async def deliver(self, payload: EventPayload, *, event_id: uuid.UUID | None = None) -> str:
        envelope = envelope_of(payload, event_id)
        record = to_kafka(envelope)
        topic = registry.spec_for(type(payload)).topic
        return await self.runners[topic].handle(Record(record.key, record.value, record.headers))

    async def rows(self) -> list[DeliveryRow]:
        async with self.database.sessions() as session:
            query = select(DeliveryRow).order_by(col(DeliveryRow.created_at))
            return list((await session.exec(query)).all())

    async def outbox(self) -> list[tuple[str, dict[str, Any]]]:
        async with self.database.sessions() as session:
            rows = await session.exec(select(OutboxRecord).order_by(col(OutboxRecord.id)))
            return [(r.event_type, json.loads(r.data)) for r in rows]

    async def dispatch_due(self) -> int:
        """One job round, after making every waiting row due now."""
        async with self.database.transaction() as session:
            await session.exec(
                sa.update(DeliveryRow)
                .where(col(DeliveryRow.status).in_(["PENDING", "RETRY"]))
                .values(next_attempt_at=datetime.now(UTC))
            )
        return await send_due(self.runtime)


def envelope_of(payload: EventPayload, event_id: uuid.UUID | None = None) -> Envelope:
    subject = str(getattr(payload, "order_id", None) or getattr(payload, "member_id", "x"))
    return registry.envelope(
        payload,
        subject=subject,
        id=event_id or uuid.uuid4(),
    )


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'notification.db'}"
    await upgrade_async(MIGRATIONS_DIR, url)
    database = Database(url)
    settings = NotificationSettings(
        database_url=url, message_max_attempts=3, message_backoff_seconds=60
    )
    email, sms = FakeEmail(), SandboxSms()
    # No Redis: the cache has no change feed (TTL only); no producer: nothing is relayed.
    state = NotificationState(
        cache=NotificationCache(ttl_seconds=settings.cache_ttl_seconds),
        renderer=Renderer(),
        channels={Channel.EMAIL: email, Channel.SMS: sms},
    )
    runtime = assemble_runtime(
        settings,
        database,
        redis=None,  # type: ignore[arg-type]
        producer=None,  # type: ignore[arg-type]  # only the dead-letter path would use it
        state=state,
    )
    runners = {
        consumer.topic: ConsumerRunner(
            consumer,
            database,
            producer=runtime.producer,
            service="notification",
            outbox=runtime.outbox,
            runtime=runtime,
            max_attempts=1,
        )
        for consumer in CONSUMERS
    }
    yield Harness(database, runners, runtime, email, sms)
    await database.dispose()


def registered(member_id: str, locale: str = "en") -> MemberRegisteredV1:
    return MemberRegisteredV1(
        member_id=member_id,
        email=f"{member_id}@example.com",
        name="Ada",
        locale=locale,
        registered_at=datetime.now(UTC),
    )


def confirmed(order_id: str, member_id: str) -> OrderConfirmedV1:
    return OrderConfirmedV1(
        order_id=order_id, member_id=member_id, total=Money(amount=12_600, currency="CNY")
    )


async def test_one_row_per_cause_channel_recipient_even_past_the_inbox(harness: Harness) -> None:
    assert await harness.deliver(registered("m-1")) == "handled"
    event_id = uuid.uuid4()
    assert await harness.deliver(confirmed("o-1", "m-1"), event_id=event_id) == "handled"
    assert await harness.deliver(confirmed("o-1", "m-1"), event_id=event_id) == "duplicate"

    # Even a second handling that the inbox did not stop (another consumer name, a replay)
    # finds the delivery row taken: nothing new is written.
    payload = confirmed("o-1", "m-1")
    async with harness.database.transaction() as session:
        delivery = Delivery(session, envelope_of(payload, event_id), runtime=harness.runtime)
        assert await notify.notify(delivery, notice_for(payload)) == 0

    [row] = await harness.rows()
    assert (row.cause_event_id, row.channel, row.recipient) == (
        str(event_id),
        "EMAIL",
        "m-1@example.com",
    )
    assert (row.status, row.attempts, row.locale) == ("PENDING", 0, "en")
    assert row.subject == "Order confirmed: o-1" and "CNY 126.00" in row.body

    assert await harness.dispatch_due() == 1
    assert await harness.dispatch_due() == 0  # SENT is final
    [message] = harness.email.sent
    assert (message.to, message.subject) == ("m-1@example.com", "Order confirmed: o-1")
    [row] = await harness.rows()
    assert (row.status, row.attempts, row.last_error) == ("SENT", 1, None)
    assert row.sent_at is not None and row.next_attempt_at is None
    [(kind, data)] = await harness.outbox()
    assert kind == "notification.delivery.sent"
    assert data["recipient"] == "m***@example.com" and data["cause_event_id"] == str(event_id)


async def test_retries_with_backoff_then_failed(harness: Harness) -> None:
    await harness.deliver(registered("m-2"))
    await harness.deliver(confirmed("o-2", "m-2"))
    harness.email.failures = [DeliveryError("SMTP 451: try again later for m-2@example.com")] * 3

    await send_due(harness.runtime)  # due at once: first attempt
    [row] = await harness.rows()
    assert (row.status, row.attempts) == ("RETRY", 1)
    assert row.last_error == "SMTP 451: try again later for m***@example.com"  # masked
    assert row.next_attempt_at is not None
    waited = row.next_attempt_at.replace(tzinfo=UTC) - row.updated_at.replace(tzinfo=UTC)
    assert 59 <= waited.total_seconds() <= 61  # message_backoff_seconds * 2**0
    assert await send_due(harness.runtime) == 0  # not due yet

    await harness.dispatch_due()
    await harness.dispatch_due()
    [row] = await harness.rows()
    assert (row.status, row.attempts) == ("FAILED", 3)
    assert await harness.dispatch_due() == 0
    [(kind, data)] = await harness.outbox()
    assert kind == "notification.delivery.failed" and data["attempts"] == 3
    assert "m-2@example.com" not in json.dumps(data)


async def test_a_permanent_error_fails_at_once(harness: Harness) -> None:
    await harness.deliver(registered("m-3"))
    await harness.deliver(confirmed("o-3", "m-3"))
    harness.email.failures = [DeliveryError("SMTP 550: no such mailbox", permanent=True)]
    await send_due(harness.runtime)
    [row] = await harness.rows()
    assert (row.status, row.attempts) == ("FAILED", 1)


async def test_sms_goes_to_members_with_a_phone_unless_opted_out(harness: Harness) -> None:
    await harness.deliver(registered("m-4", locale="zh-CN"))
    async with harness.database.transaction() as session:
        member = await session.get(RecipientRow, "m-4")
        assert member is not None
        member.phone = "+8613800138000"
        session.add(member)

    await harness.deliver(OrderShippedV1(order_id="o-4", member_id="m-4"))
    await harness.dispatch_due()
    assert [m.to for m in harness.email.sent] == ["m-4@example.com"]
    [sms] = harness.sms.messages_to("+8613800138000")
    assert sms.text == "订单已发货：o-4"

    async with harness.database.transaction() as session:
        await preferences.change(session, "m-4", {"sms": False}, harness.runtime.state.cache)
    await harness.deliver(OrderShippedV1(order_id="o-5", member_id="m-4"))
    await harness.dispatch_due()
    assert len(harness.sms.sent) == 1 and len(harness.email.sent) == 2
    channels = [(r.channel, r.template) for r in await harness.rows()]
    assert channels.count(("SMS", "order_shipped")) == 1


async def test_member_updates_follow_into_language_and_consent(harness: Harness) -> None:
    await harness.deliver(registered("m-5", locale="en"))
    await harness.deliver(
        MemberUpdatedV1(member_id="m-5", name="阿达", locale="zh-CN", marketing_consent=True)
    )
    async with harness.database.sessions() as session:
        assert (await preferences.load(session, "m-5")).marketing_consent is True
    await harness.deliver(confirmed("o-6", "m-5"))
    [row] = await harness.rows()
    assert row.locale == "zh-CN" and row.subject == "订单已确认：o-6" and "阿达" in row.body


async def test_unknown_member_gets_nothing_and_nothing_breaks(harness: Harness) -> None:
    assert await harness.deliver(confirmed("o-7", "m-unknown")) == "handled"
    assert await harness.rows() == []
