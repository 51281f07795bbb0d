"""The whole path on SQLite (the development default), without a broker: events through the
chassis consumer (envelope -> inbox -> handler, one transaction), the delivery rows, and the
dispatch job with in-memory channels (failures on demand), retries and published outcomes."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from chassis.consumer import Delivery
from chassis.db import as_utc
from chassis.testing.events import Record, envelope_of
from chassis.testing.harness import Harness, offline_runtime
from chassis.testing.statements import statements_sent
from notification_service.adapters.channel import DeliveryError, Message
from notification_service.adapters.sms import SandboxSms
from notification_service.config import MIGRATIONS_DIR, NotificationSettings
from notification_service.deps import NotificationRuntime, NotificationState
from notification_service.domain.channels import Channel
from notification_service.domain.notices import notice_for
from notification_service.handlers import CONSUMERS
from notification_service.service import notify, parking, preferences
from notification_service.service.cache import NotificationCache
from notification_service.service.dispatch import LEASE_RAN_OUT, send_due
from notification_service.service.rendering import Renderer
from notification_service.tables import DeliveryRow, ParkedMessageRow, RecipientRow
from shared_events import EventPayload
from shared_events.membership import CouponIssuedV1, MemberRegisteredV1, MemberUpdatedV1
from shared_events.money import Money
from shared_events.order import OrderConfirmedV1, OrderShippedV1
from shared_events.topics import MEMBERSHIP_EVENTS


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
class Flow:
    """The service's consumers (chassis `Harness`), its dispatch job and in-memory channels."""

    harness: Harness[NotificationRuntime]
    email: FakeEmail
    sms: SandboxSms

    @property
    def runtime(self) -> NotificationRuntime:
        return self.harness.runtime

    async def deliver(self, payload: EventPayload, *, event_id: uuid.UUID | None = None) -> str:
        """How the consumer took it: handled, duplicate, ..."""
        await self.harness.deliver(payload, event_id=event_id)
        return self.harness.outcomes[-1]

    async def rows(self) -> list[DeliveryRow]:
        async with self.harness.database.sessions() as session:
            query = select(DeliveryRow).order_by(col(DeliveryRow.created_at))
            return list((await session.exec(query)).all())

    async def dispatch_due(self) -> int:
        """One job round, after making every waiting row due now."""
        async with self.harness.database.transaction() as session:
            await session.exec(
                sa.update(DeliveryRow)
                .where(col(DeliveryRow.status).in_(["PENDING", "RETRY"]))
                .values(next_attempt_at=datetime.now(UTC))
            )
        return await send_due(self.runtime)


@pytest.fixture
async def flow(tmp_path: Path) -> AsyncIterator[Flow]:
    settings = NotificationSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'notification.db'}",
        message_max_attempts=3,
        message_backoff_seconds=60,
    )
    email, sms = FakeEmail(), SandboxSms()
    # The cache follows no change feed here (TTL only); nothing is relayed.
    state = NotificationState(
        cache=NotificationCache(ttl_seconds=settings.cache_ttl_seconds),
        renderer=Renderer(),
        channels={Channel.EMAIL: email, Channel.SMS: sms},
    )
    async with offline_runtime(settings, state, migrations=MIGRATIONS_DIR) as runtime:
        yield Flow(Harness.of(runtime, CONSUMERS), email, sms)


@dataclass
class SlowEmail(FakeEmail):
    """Takes `seconds` for every message (a mail server that has slowed down)."""

    seconds: float = 0.5

    async def send(self, message: Message) -> None:
        await asyncio.sleep(self.seconds)
        await super().send(message)


async def test_no_send_outlasts_the_rounds_lease(tmp_path: Path) -> None:
    # Sends end RECORD_SECONDS (5) before the lease: here 0.8 s into the round. One message at
    # a time, 0.5 s each: the first is sent, the second is cut off and counted as a failed
    # attempt, the last two never start and are given back uncounted, due again. No other
    # replica can take a row again while this one is still sending it.
    settings = NotificationSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'notification.db'}",
        smtp_timeout_seconds=0.5,
        webhook_timeout_seconds=0.5,
        dispatch_lease_seconds=5.8,
        dispatch_concurrency=1,
    )
    email = SlowEmail()
    state = NotificationState(
        cache=NotificationCache(ttl_seconds=settings.cache_ttl_seconds),
        renderer=Renderer(),
        channels={Channel.EMAIL: email},
    )
    async with offline_runtime(settings, state, migrations=MIGRATIONS_DIR) as runtime:
        flow = Flow(Harness.of(runtime, CONSUMERS), email, SandboxSms())
        await flow.deliver(registered("m-9"))
        for n in range(4):
            await flow.deliver(confirmed(f"o-9{n}", "m-9"))
        loop = asyncio.get_running_loop()
        started = loop.time()
        assert await send_due(runtime) == 4
        assert loop.time() - started < settings.dispatch_lease_seconds
        rows = await flow.rows()
    assert len(email.sent) == 1
    assert sorted((row.status, row.attempts, row.last_error) for row in rows) == [
        ("PENDING", 0, None),
        ("PENDING", 0, None),
        ("RETRY", 1, LEASE_RAN_OUT),
        ("SENT", 1, None),
    ]


def registered(member_id: str, locale: str = "en", phone: str | None = None) -> MemberRegisteredV1:
    return MemberRegisteredV1(
        member_id=member_id,
        email=f"{member_id}@example.com",
        name="Ada",
        locale=locale,
        registered_at=datetime.now(UTC),
        phone=phone,
    )


def confirmed(order_id: str, member_id: str) -> OrderConfirmedV1:
    return OrderConfirmedV1(
        order_id=order_id, member_id=member_id, total=Money(amount=12_600, currency="CNY")
    )


async def test_one_row_per_cause_channel_recipient_even_past_the_inbox(flow: Flow) -> None:
    assert await flow.deliver(registered("m-1")) == "handled"
    event_id = uuid.uuid4()
    assert await flow.deliver(confirmed("o-1", "m-1"), event_id=event_id) == "handled"
    assert await flow.deliver(confirmed("o-1", "m-1"), event_id=event_id) == "duplicate"

    # Even a second handling that the inbox did not stop (another consumer name, a replay)
    # finds the delivery row taken: nothing new is written.
    payload = confirmed("o-1", "m-1")
    async with flow.harness.database.transaction() as session:
        delivery = Delivery(session, envelope_of(payload, event_id=event_id), runtime=flow.runtime)
        assert await notify.notify(delivery, notice_for(payload)) == 0

    [row] = await flow.rows()
    assert (row.cause_event_id, row.channel, row.recipient) == (
        str(event_id),
        "EMAIL",
        "m-1@example.com",
    )
    assert (row.status, row.attempts, row.locale) == ("PENDING", 0, "en")
    assert row.subject == "Order confirmed: o-1" and "CNY 126.00" in row.body

    assert await flow.dispatch_due() == 1
    assert await flow.dispatch_due() == 0  # SENT is final
    [message] = flow.email.sent
    assert (message.to, message.subject) == ("m-1@example.com", "Order confirmed: o-1")
    [row] = await flow.rows()
    assert (row.status, row.attempts, row.last_error) == ("SENT", 1, None)
    assert row.sent_at is not None and row.next_attempt_at is None
    [(kind, data)] = await flow.harness.published()
    assert kind == "notification.delivery.sent"
    assert data["recipient"] == "m***@example.com" and data["cause_event_id"] == str(event_id)


async def test_a_round_leases_and_records_its_rows_with_one_update_each(flow: Flow) -> None:
    """However many messages a round sends, it writes the deliveries twice: the claim's lease
    and the record of the rows sent (a failure, the rare case, is one UPDATE of its own)."""
    await flow.deliver(registered("m-10"))
    for n in range(5):
        await flow.deliver(confirmed(f"o-10{n}", "m-10"))
    with statements_sent(flow.runtime.database.engine) as sent:
        assert await send_due(flow.runtime) == 5
    assert len(flow.email.sent) == 5
    assert [s.split(" SET ")[0] for s in sent if s.startswith("UPDATE")] == [
        "UPDATE deliveries",
        "UPDATE deliveries",
    ]
    assert {row.status for row in await flow.rows()} == {"SENT"}


async def test_retries_with_backoff_then_failed(flow: Flow) -> None:
    await flow.deliver(registered("m-2"))
    await flow.deliver(confirmed("o-2", "m-2"))
    flow.email.failures = [DeliveryError("SMTP 451: try again later for m-2@example.com")] * 3

    await send_due(flow.runtime)  # due at once: first attempt
    [row] = await flow.rows()
    assert (row.status, row.attempts) == ("RETRY", 1)
    assert row.last_error == "SMTP 451: try again later for m***@example.com"  # masked
    assert row.next_attempt_at is not None
    waited = as_utc(row.next_attempt_at) - as_utc(row.updated_at)
    assert 59 <= waited.total_seconds() <= 61  # message_backoff_seconds * 2**0
    assert await send_due(flow.runtime) == 0  # not due yet

    await flow.dispatch_due()
    await flow.dispatch_due()
    [row] = await flow.rows()
    assert (row.status, row.attempts) == ("FAILED", 3)
    assert await flow.dispatch_due() == 0
    [(kind, data)] = await flow.harness.published()
    assert kind == "notification.delivery.failed" and data["attempts"] == 3
    assert "m-2@example.com" not in json.dumps(data)


async def test_a_permanent_error_fails_at_once(flow: Flow) -> None:
    await flow.deliver(registered("m-3"))
    await flow.deliver(confirmed("o-3", "m-3"))
    flow.email.failures = [DeliveryError("SMTP 550: no such mailbox", permanent=True)]
    await send_due(flow.runtime)
    [row] = await flow.rows()
    assert (row.status, row.attempts) == ("FAILED", 1)


async def test_sms_goes_to_members_with_a_phone_unless_opted_out(flow: Flow) -> None:
    await flow.deliver(registered("m-4", locale="zh-CN", phone="+8613800138000"))
    await flow.deliver(OrderShippedV1(order_id="o-4", member_id="m-4"))
    await flow.dispatch_due()
    assert [m.to for m in flow.email.sent] == ["m-4@example.com"]
    [sms] = flow.sms.messages_to("+8613800138000")
    assert sms.text == "订单已发货：o-4"

    async with flow.harness.database.transaction() as session:
        await preferences.change(session, "m-4", {"sms": False}, flow.runtime.state.cache)
    await flow.deliver(OrderShippedV1(order_id="o-5", member_id="m-4"))
    await flow.dispatch_due()
    assert len(flow.sms.sent) == 1 and len(flow.email.sent) == 2
    channels = [(r.channel, r.template) for r in await flow.rows()]
    assert channels.count(("SMS", "order_shipped")) == 1


async def test_member_updates_follow_into_language_and_consent(flow: Flow) -> None:
    await flow.deliver(registered("m-5", locale="en"))
    await flow.deliver(
        MemberUpdatedV1(member_id="m-5", name="阿达", locale="zh-CN", marketing_consent=True)
    )
    async with flow.harness.database.sessions() as session:
        assert (await preferences.load(session, "m-5")).marketing_consent is True
    await flow.deliver(confirmed("o-6", "m-5"))
    [row] = await flow.rows()
    assert row.locale == "zh-CN" and row.subject == "订单已确认：o-6" and "阿达" in row.body


async def recipient_of(flow: Flow, member_id: str) -> RecipientRow:
    async with flow.harness.database.sessions() as session:
        row = await session.get(RecipientRow, member_id)
    assert row is not None
    return row


async def phone_of(flow: Flow, member_id: str) -> str | None:
    return (await recipient_of(flow, member_id)).phone


async def test_the_phone_follows_the_member_events(flow: Flow) -> None:
    await flow.deliver(registered("m-8"))
    assert await phone_of(flow, "m-8") is None
    set_phone = MemberUpdatedV1(member_id="m-8", name="Ada", locale="en", phone="+447700900111")
    await flow.deliver(set_phone)
    assert await phone_of(flow, "m-8") == "+447700900111"

    # A producer older than the field sends no `phone` key: it says nothing about the number.
    older = envelope_of(MemberUpdatedV1(member_id="m-8", name="Ada Lovelace", locale="en"))
    data = {k: v for k, v in older.data.items() if k != "phone"}
    older = older.model_copy(update={"data": data})
    assert await flow.harness.runners[MEMBERSHIP_EVENTS].handle(Record.of(older)) == "handled"
    after = await recipient_of(flow, "m-8")
    assert (after.name, after.phone) == ("Ada Lovelace", "+447700900111")

    await flow.deliver(OrderShippedV1(order_id="o-8", member_id="m-8"))
    await flow.dispatch_due()
    assert len(flow.sms.messages_to("+447700900111")) == 1

    # Null: the member removed it. Email only from then on.
    await flow.deliver(MemberUpdatedV1(member_id="m-8", name="Ada", locale="en", phone=None))
    assert await phone_of(flow, "m-8") is None
    await flow.deliver(OrderShippedV1(order_id="o-9", member_id="m-8"))
    await flow.dispatch_due()
    assert len(flow.sms.sent) == 1
    assert [m.to for m in flow.email.sent] == ["m-8@example.com"] * 2


async def parked_rows(flow: Flow) -> list[ParkedMessageRow]:
    async with flow.harness.database.sessions() as session:
        return list((await session.exec(select(ParkedMessageRow))).all())


async def test_a_message_for_a_member_not_known_yet_waits_for_the_registration(
    flow: Flow,
) -> None:
    """order.events is not ordered with membership.events: the order's message is parked,
    then written once the registration is recorded, after the welcome, once."""
    confirmed_id, shipped_id = uuid.uuid4(), uuid.uuid4()
    assert await flow.deliver(confirmed("o-7", "m-7"), event_id=confirmed_id) == "handled"
    shipped = OrderShippedV1(order_id="o-7", member_id="m-7")
    assert await flow.deliver(shipped, event_id=shipped_id) == "handled"
    assert await flow.deliver(confirmed("o-7", "m-7"), event_id=confirmed_id) == "duplicate"
    assert await flow.rows() == []
    parked = await parked_rows(flow)
    assert sorted(p.cause_event_id for p in parked) == sorted([str(confirmed_id), str(shipped_id)])
    # Even a handling past the inbox parks nothing more.
    payload = confirmed("o-7", "m-7")
    async with flow.harness.database.transaction() as session:
        delivery = Delivery(
            session, envelope_of(payload, event_id=confirmed_id), runtime=flow.runtime
        )
        assert await notify.notify(delivery, notice_for(payload)) == 0
    assert len(await parked_rows(flow)) == 2

    registration = uuid.uuid4()
    assert await flow.deliver(registered("m-7", locale="zh-CN"), event_id=registration) == "handled"
    assert await parked_rows(flow) == []
    rows = await flow.rows()
    assert [(r.cause_event_id, r.template) for r in rows] == [
        (str(confirmed_id), "order_confirmed"),
        (str(shipped_id), "order_shipped"),
    ]
    assert rows[0].subject == "订单已确认：o-7" and "Ada" in rows[0].body  # rendered for them
    assert rows[0].correlation_id == "o-7"

    # The welcome follows the registration on its partition: it is due before them.
    await flow.deliver(
        CouponIssuedV1(
            member_id="m-7",
            coupon_code="WELCOME-M7",
            kind="WELCOME_GIFT",
            amount_off=Money(amount=1_000, currency="CNY"),
            min_spend=Money(amount=5_000, currency="CNY"),
            valid_from=datetime.now(UTC),
            valid_until=datetime.now(UTC),
        )
    )
    due = sorted(await flow.rows(), key=lambda r: as_utc(r.next_attempt_at or r.created_at))
    assert [r.template for r in due] == ["welcome", "order_confirmed", "order_shipped"]

    # Either event again, through the inbox or past it: nothing new.
    assert await flow.deliver(registered("m-7"), event_id=registration) == "duplicate"
    assert await flow.deliver(confirmed("o-7", "m-7"), event_id=confirmed_id) == "duplicate"
    async with flow.harness.database.transaction() as session:
        delivery = Delivery(
            session, envelope_of(payload, event_id=confirmed_id), runtime=flow.runtime
        )
        assert await notify.notify(delivery, notice_for(payload)) == 0
    assert len(await flow.rows()) == 3
    await flow.dispatch_due()
    assert sorted(m.subject for m in flow.email.sent) == sorted(r.subject for r in due)


async def test_parked_messages_expire_after_the_retention(flow: Flow) -> None:
    await flow.deliver(confirmed("o-8", "m-never"))
    await flow.deliver(confirmed("o-9", "m-late"))
    assert await parking.expire(flow.runtime) == 0  # not old yet
    days = flow.runtime.settings.parked_retention_days
    async with flow.harness.database.transaction() as session:
        await session.exec(
            sa.update(ParkedMessageRow)
            .where(col(ParkedMessageRow.member_id) == "m-never")
            .values(created_at=datetime.now(UTC) - timedelta(days=days, minutes=1))
        )
    assert await parking.expire(flow.runtime) == 1
    assert [p.member_id for p in await parked_rows(flow)] == ["m-late"]
    await flow.deliver(registered("m-never"))
    await flow.deliver(registered("m-late"))
    assert [(r.member_id, r.template) for r in await flow.rows()] == [("m-late", "order_confirmed")]
