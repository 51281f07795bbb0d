"""Lots and recalls: the operators hear about expiring, expired and recalled lots; a member who
received units of a recalled lot gets a recall notice in their language by email and SMS,
once per (recall, order) whichever event brings it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable
from datetime import UTC, date, datetime, timedelta

import pytest
import sqlalchemy as sa

from notification_service.adapters.sms import SandboxSms, SentSms
from notification_service.domain.channels import Channel
from notification_service.service import parking
from notification_service.tables import ParkedMessageRow, RecipientRow
from shared_events import Envelope
from shared_events.inventory import (
    LotExpiredV1,
    LotExpiringV1,
    LotRecalledV1,
    RecallCustomerAffectedV1,
    StockLowV1,
)
from shared_events.membership import MemberUpdatedV1

from .conftest import OPERATOR, Notification, confirmed, coupon, new_id
from .servers import eventually, text_of

pytestmark = pytest.mark.integration

RECALLED_AT = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)


def sms_of(notification: Notification) -> SandboxSms:
    sandbox = notification.runtime.state.channels[Channel.SMS]
    assert isinstance(sandbox, SandboxSms)
    return sandbox


async def _equal(value: Awaitable[object], expected: object) -> bool:
    return await value == expected


def recall_sms(notification: Notification, phone: str) -> list[SentSms]:
    """The recall notices sent to `phone` (a member registered with it got the welcome by SMS
    too)."""
    return [sms for sms in sms_of(notification).messages_to(phone) if "L2401" in sms.text]


async def member_with_phone(
    notification: Notification, locale: str, name: str, phone: str
) -> tuple[str, str]:
    """A member registered with a phone number (`membership.member.registered` through the
    broker, as membership publishes it), their welcome received."""
    member = new_id("m")
    address = f"{member}@example.com"
    await notification.register(member, address, locale, name, phone=phone)
    await notification.mail.wait_for(address)  # the welcome
    return member, address


async def phone_on_file(notification: Notification, member_id: str) -> str | None:
    async with notification.runtime.database.sessions() as session:
        row = await session.get(RecipientRow, member_id)
    assert row is not None
    return row.phone


def affected(
    member_id: str, order_id: str, recall_id: str, *, codes: list[str] | None = None
) -> RecallCustomerAffectedV1:
    return RecallCustomerAffectedV1(
        recall_id=recall_id,
        order_id=order_id,
        member_id=member_id,
        sku="TEA-250",
        product_name="Jasmine tea",
        lot="L2401",
        quantity=2,
        trace_codes=codes or ["TC-8F3K2M9Q"],
        reason="Undeclared peanut",
        recalled_at=RECALLED_AT,
    )


async def test_lot_events_email_the_operators(notification: Notification) -> None:
    sku = f"TEA-{uuid.uuid4().hex[:6]}"
    expiry = datetime.now(UTC).date() + timedelta(days=3)
    await notification.publish(
        LotExpiringV1(sku=sku, lot="L2401", expiry_date=expiry, days_left=3, on_hand=12), sku
    )
    [expiring] = await notification.mail.wait_for(OPERATOR)
    day = f"{expiry.day} {expiry.strftime('%B')} {expiry.year}"
    assert expiring["Subject"] == f"Expiring soon: {sku} lot L2401, 12 left, expires {day}"
    text = text_of(expiring)
    assert f"Lot L2401 of SKU {sku} expires on {day}, in 3 days." in text
    assert "12 units of it are still in the warehouse." in text
    assert "mark them down" in text

    await notification.publish(
        LotExpiredV1(sku=sku, lot="L2312", expiry_date=date(2026, 12, 1), withdrawn=4), sku
    )
    recalled = await notification.publish(
        LotRecalledV1(
            recall_id="rc-ops",
            sku=sku,
            lot="L2401",
            reason="Undeclared peanut",
            quarantined=30,
            recalled_at=RECALLED_AT,
        ),
        sku,
    )
    mails = await notification.mail.wait_for(OPERATOR, count=3)
    subjects = [m["Subject"] for m in mails]
    assert f"Expired: {sku} lot L2312 taken out of sale" in subjects
    assert f"Recall rc-ops: {sku} lot L2401" in subjects
    [recall] = [m for m in mails if m["Subject"].startswith("Recall")]
    assert "Undeclared peanut" in text_of(recall) and "30 units" in text_of(recall)

    rows = await notification.deliveries(cause_event_id=str(recalled.id))
    assert [(r.channel, r.recipient, r.template) for r in rows] == [
        ("EMAIL", OPERATOR, "lot_recalled")
    ]
    assert len({m["Subject"] for m in mails}) == 3  # one each
    # Low stock still works beside them.
    await notification.publish(StockLowV1(sku=sku, available=1, safety_stock=5), sku)
    await notification.mail.wait_for(OPERATOR, count=4)


async def test_recall_notice_in_each_members_language_by_email_and_sms(
    notification: Notification,
) -> None:
    zh_member, zh_address = await member_with_phone(notification, "zh-CN", "李雷", "+8613800138001")
    en_member, en_address = await member_with_phone(notification, "en", "Alice", "+447700900123")
    # The English member turned email and SMS off: a safety recall still reaches them.
    off = {"email": False, "sms": False, "marketing_consent": False}
    put = await notification.http.put(
        "/api/v1/notifications/preferences", json=off, headers=notification.member(en_member)
    )
    assert put.status_code == 200

    recall_id = new_id("rc")
    zh_order, en_order = new_id("o"), new_id("o")
    await notification.publish(
        affected(zh_member, zh_order, recall_id, codes=["TC-ZH000001", "TC-ZH000002"]), zh_order
    )
    await notification.publish(affected(en_member, en_order, recall_id), en_order)

    [_, zh_mail] = await notification.mail.wait_for(zh_address, count=2)
    assert zh_mail["Subject"] == "安全召回：请停止食用/使用 Jasmine tea（批次 L2401）"
    zh_text = text_of(zh_mail)
    for words in (
        "李雷，您好",
        f"订单 {zh_order}",
        "批次：L2401",
        "溯源码：TC-ZH000001、TC-ZH000002",
        "召回原因：Undeclared peanut",
        "立即停止食用",
        "全额退款",
        "无论是否已过退货期限",
    ):
        assert words in zh_text

    [_, en_mail] = await notification.mail.wait_for(en_address, count=2)
    assert en_mail["Subject"] == "Safety recall: please stop using Jasmine tea (lot L2401)"
    en_text = text_of(en_mail)
    for words in (
        "Hello Alice",
        f"order {en_order}",
        "Lot: L2401",
        "Trace code: TC-8F3K2M9Q",
        "Reason: Undeclared peanut",
        "Stop using or eating it now",
        "full refund",
        "whatever the return window",
    ):
        assert words in en_text

    [zh_sms] = await eventually(
        lambda: recall_sms(notification, "+8613800138001"), what="the zh SMS"
    )
    assert zh_sms.text.startswith("【安全召回】请立即停止食用/使用Jasmine tea（批次L2401")
    assert "溯源码TC-ZH000001、TC-ZH000002" in zh_sms.text and "全额退款" in zh_sms.text
    [en_sms] = await eventually(
        lambda: recall_sms(notification, "+447700900123"), what="the en SMS"
    )
    assert en_sms.text.startswith("Safety recall: stop using Jasmine tea, lot L2401")
    assert "TC-8F3K2M9Q" in en_sms.text and "full refund" in en_sms.text

    async def sent() -> list[tuple[str, str, str]]:
        # The outcomes of a dispatch round are committed together, after its sends.
        rows = await notification.deliveries(member_id=en_member, template="recall_notice")
        return sorted((r.channel, r.locale, r.status) for r in rows)

    expected = [("EMAIL", "en", "SENT"), ("SMS", "en", "SENT")]
    assert await eventually(lambda: _equal(sent(), expected), what="both recorded") is True


async def test_a_recall_notice_goes_once_per_recall_and_order(notification: Notification) -> None:
    member, address = await member_with_phone(notification, "en", "Bob", "+447700900456")
    recall_id, order_id, other_order = new_id("rc"), new_id("o"), new_id("o")

    first = await notification.publish(affected(member, order_id, recall_id), order_id)
    # The same event redelivered, and the same recall of the same order under a new event id
    # (inventory re-running the recall): nothing more.
    again = await notification.publish(
        affected(member, order_id, recall_id), order_id, event_id=first.id
    )
    assert again.id == first.id
    rerun = await notification.publish(affected(member, order_id, recall_id), order_id)
    # Another order of the same member in the same recall is another notice.
    second = await notification.publish(affected(member, other_order, recall_id), other_order)
    await notification.handled(rerun)
    await notification.handled(second)

    mails = await notification.mail.wait_for(address, count=3)  # welcome + two orders
    await eventually(lambda: len(recall_sms(notification, "+447700900456")) >= 2, what="two SMS")
    await asyncio.sleep(0.5)  # a few dispatch rounds: no duplicate may show up
    recalls = [m for m in notification.mail.to(address) if "recall" in m["Subject"]]
    assert len(recalls) == 2 and len(mails) == 3
    assert sorted(order_id in text_of(m) for m in recalls) == [False, True]
    assert len(recall_sms(notification, "+447700900456")) == 2
    rows = await notification.deliveries(member_id=member, template="recall_notice")
    assert sorted((r.cause_event_id, r.channel) for r in rows) == sorted(
        (str(e.id), channel) for e in (first, second) for channel in ("EMAIL", "SMS")
    )


async def test_a_recall_notice_to_a_member_not_known_yet_waits_and_goes_once(
    notification: Notification,
) -> None:
    member, recall_id, order_id = new_id("m"), new_id("rc"), new_id("o")
    address = f"{member}@example.com"
    first = await notification.publish(affected(member, order_id, recall_id), order_id)
    rerun: Envelope = await notification.publish(affected(member, order_id, recall_id), order_id)
    await notification.handled(first)
    await notification.handled(rerun)
    assert await notification.deliveries(member_id=member) == []

    await notification.register(member, address, "zh-CN", "韩梅梅")
    mails = await notification.mail.wait_for(address, count=2)
    await asyncio.sleep(0.5)
    assert len(notification.mail.to(address)) == 2
    [notice] = [m for m in mails if m["Subject"].startswith("安全召回")]
    assert "韩梅梅，您好" in text_of(notice) and order_id in text_of(notice)
    [row] = await notification.deliveries(member_id=member, template="recall_notice")
    assert row.cause_event_id == str(first.id)


async def test_a_parked_recall_notice_outlives_the_retention_and_reaches_its_member(
    notification: Notification,
) -> None:
    """A member not known here for longer than the parking retention (their registration
    dead-lettered, replayed a week later): their order's message expires, their recall notice
    does not, and goes out once they register. Dropping it would leave them never told, as
    the (recall, order) claim also stops a re-run of the recall."""
    member, recall_id, order_id = new_id("m"), new_id("rc"), new_id("o")
    address = f"{member}@example.com"
    notice = await notification.publish(affected(member, order_id, recall_id), order_id)
    await notification.handled(notice)
    await notification.handled(await notification.publish(confirmed(order_id, member), order_id))
    days = notification.settings.parked_retention_days
    async with notification.runtime.database.transaction() as session:
        await session.exec(
            sa.update(ParkedMessageRow)
            .where(ParkedMessageRow.member_id == member)  # type: ignore[arg-type]
            .values(created_at=datetime.now(UTC) - timedelta(days=days, hours=1))
        )

    assert await parking.expire(notification.runtime) == 1  # the order confirmation only
    rerun = await notification.publish(affected(member, order_id, recall_id), order_id)
    await notification.handled(rerun)  # already claimed: nothing more is parked or sent

    await notification.register(member, address, "en", "Hana")
    mails = await notification.mail.wait_for(address, count=2)
    await notification.handled(
        await notification.publish(coupon(member, "FIRST_ORDER", "FIRST-H"), member)
    )  # a marker behind the welcome on the member's partition (marketing: not sent)
    assert sorted(m["Subject"] for m in mails) == [
        "Safety recall: please stop using Jasmine tea (lot L2401)",
        "Welcome, Hana! Your welcome gift is here",
    ]
    rows = await notification.deliveries(member_id=member)
    assert sorted(r.template for r in rows) == ["recall_notice", "welcome"]
    [told] = [r for r in rows if r.template == "recall_notice"]
    assert told.cause_event_id == str(notice.id)


async def test_a_recall_notice_goes_by_sms_to_the_number_the_member_registered_or_set(
    notification: Notification,
) -> None:
    """The number comes with the member events: the one given at registration, then the one
    a profile update sets. A member without one is told by email only."""
    registered, _ = await member_with_phone(notification, "zh-CN", "李雷", "+8613812345678")
    assert await phone_on_file(notification, registered) == "+8613812345678"

    later = new_id("m")
    later_address = f"{later}@example.com"
    await notification.register(later, later_address, "en", "Lucy")
    await notification.mail.wait_for(later_address)
    assert await phone_on_file(notification, later) is None
    update = MemberUpdatedV1(member_id=later, name="Lucy", locale="en", phone="+447700900789")
    await notification.handled(await notification.publish(update, later))
    assert await phone_on_file(notification, later) == "+447700900789"

    never = new_id("m")
    never_address = f"{never}@example.com"
    await notification.register(never, never_address, "en", "Nina")
    await notification.mail.wait_for(never_address)

    recall_id = new_id("rc")
    orders = {member: new_id("o") for member in (registered, later, never)}
    for member, order_id in orders.items():
        await notification.publish(affected(member, order_id, recall_id), order_id)

    [zh_sms] = await eventually(
        lambda: recall_sms(notification, "+8613812345678"), what="the zh SMS"
    )
    assert zh_sms.text.startswith("【安全召回】")
    [en_sms] = await eventually(
        lambda: sms_of(notification).messages_to("+447700900789"), what="the en SMS"
    )
    assert en_sms.text.startswith("Safety recall: stop using Jasmine tea, lot L2401")
    await notification.mail.wait_for(never_address, count=2)  # welcome + recall notice

    async def never_told() -> list[tuple[str, str]]:
        rows = await notification.deliveries(member_id=never, template="recall_notice")
        return [(r.channel, r.status) for r in rows]

    by_email = [("EMAIL", "SENT")]
    assert await eventually(lambda: _equal(never_told(), by_email), what="email only") is True
    for member, phone in ((registered, "+8613812345678"), (later, "+447700900789")):
        rows = await notification.deliveries(member_id=member, template="recall_notice")
        assert sorted((r.channel, r.recipient) for r in rows) == [
            ("EMAIL", f"{member}@example.com"),
            ("SMS", phone),
        ]

    # Removing the number: the next notice is email only.
    gone = MemberUpdatedV1(member_id=later, name="Lucy", locale="en", phone=None)
    await notification.handled(await notification.publish(gone, later))
    assert await phone_on_file(notification, later) is None
    next_order = new_id("o")
    await notification.publish(affected(later, next_order, recall_id), next_order)
    await notification.mail.wait_for(later_address, count=3)
    await asyncio.sleep(0.3)
    assert len(sms_of(notification).messages_to("+447700900789")) == 1
