"""Emails reach a real SMTP server in the member's language, once per cause event."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime

import pytest

from shared_events.membership import MemberRegisteredV1
from shared_events.order import OrderCompletedV1, OrderDeliveredV1
from shared_events.payment import PaymentRefundedV1

from .conftest import MAIL_FROM, Notification, cny, confirmed, coupon, new_id
from .servers import text_of

pytestmark = pytest.mark.integration


async def test_welcome_email_arrives_in_each_members_language(notification: Notification) -> None:
    zh_member, en_member = new_id("m"), new_id("m")
    zh_address, en_address = f"{zh_member}@example.com", f"{en_member}@example.com"
    await notification.register(zh_member, zh_address, "zh-CN", "李雷")
    await notification.register(en_member, en_address, "en", "Alice")
    # Registration also issues the first-order coupon: marketing, and nobody consented.
    first_order = await notification.publish(coupon(zh_member, "FIRST_ORDER", "FIRST-1"), zh_member)

    [zh_mail] = await notification.mail.wait_for(zh_address)
    [en_mail] = await notification.mail.wait_for(en_address)

    assert zh_mail["Subject"] == "欢迎加入，李雷！您的新人礼券已到账"
    assert zh_mail["From"] == MAIL_FROM
    assert "李雷，您好" in text_of(zh_mail)
    assert "满 ¥50.00 减 ¥10.00" in text_of(zh_mail)
    assert f"WELCOME-{zh_member[:6].upper()}" in text_of(zh_mail)
    assert zh_mail.get_body(("html",)) is not None  # an HTML alternative as well

    assert en_mail["Subject"] == "Welcome, Alice! Your welcome gift is here"
    assert "CNY 10.00 off orders of CNY 50.00 or more" in text_of(en_mail)

    await notification.handled(first_order)
    templates = [d.template for d in await notification.deliveries(member_id=zh_member)]
    assert templates == ["welcome"]


async def test_order_confirmed_email_after_placed_then_confirmed(
    notification: Notification,
) -> None:
    member, order_id = new_id("m"), new_id("o")
    address = f"{member}@example.com"
    await notification.register(member, address, "en", "Bob")
    await notification.mail.wait_for(address)  # the welcome

    confirmed = await notification.confirm(order_id, member, total=12_600)
    mails = await notification.mail.wait_for(address, count=2)
    mail = mails[-1]
    assert mail["Subject"] == f"Order confirmed: {order_id}"
    assert "Amount paid: CNY 126.00." in text_of(mail)

    [row] = await notification.deliveries(cause_event_id=str(confirmed.id))
    assert (row.channel, row.template, row.recipient) == ("EMAIL", "order_confirmed", address)
    sent = await notification.published(until=lambda got: any(e.subject == row.id for e in got))
    [event] = [e for e in sent if e.subject == row.id]
    assert event.type == "notification.delivery.sent"
    assert event.causationid == str(confirmed.id) and event.correlationid == order_id
    assert event.data["recipient"] == f"{member[0]}***@example.com"
    assert address not in str(event.data)


async def test_refund_email_finds_the_member_through_the_order(notification: Notification) -> None:
    member, order_id = new_id("m"), new_id("o")
    address = f"{member}@example.com"
    await notification.register(member, address, "zh-CN", "韩梅梅")
    # The member orders once registered here, as seen by the welcome: events on order.events
    # may otherwise overtake the registration on membership.events.
    await notification.mail.wait_for(address)
    # The refund names the order only: the member comes from `order.order.placed`.
    await notification.handled(await notification.confirm(order_id, member, total=9_900))
    await notification.publish(
        PaymentRefundedV1(
            order_id=order_id, payment_id="pay-1", refund_id="ref-1", amount=cny(9_900)
        ),
        order_id,
    )
    mails = await notification.mail.wait_for(address, count=3)  # welcome, confirmed, refund
    [refund] = [m for m in mails if m["Subject"] == "退款已处理：¥99.00"]
    assert f"订单 {order_id} 的退款 ¥99.00 已处理" in text_of(refund)


async def test_the_same_event_twice_sends_one_email(notification: Notification) -> None:
    member, order_id = new_id("m"), new_id("o")
    address = f"{member}@example.com"
    await notification.register(member, address, "en", "Carol")
    await notification.mail.wait_for(address)

    first = await notification.confirm(order_id, member)
    again = await notification.publish(  # redelivered: same envelope, same id
        confirmed(order_id, member), order_id, event_id=first.id
    )
    assert again.id == first.id
    # Another envelope with the same meaning is another cause: that one may be sent again.
    other = await notification.publish(confirmed(order_id, member), order_id)
    await notification.handled(other)  # same partition: everything before it was handled

    mails = await notification.mail.wait_for(address, count=3)  # welcome + two causes
    await asyncio.sleep(0.5)  # give a duplicate time to show up: none may
    assert len(notification.mail.to(address)) == 3
    causes = [d.cause_event_id for d in await notification.deliveries(member_id=member)]
    assert sorted(causes[1:]) == sorted([str(first.id), str(other.id)])
    assert all(m["Subject"] == f"Order confirmed: {order_id}" for m in mails[1:])


async def test_an_order_confirmed_before_the_registration_is_emailed_once_it_arrives(
    notification: Notification,
) -> None:
    """order.events is not ordered with membership.events (after an outage, or within one
    poll): the order's message waits for the member's registration instead of being lost,
    and goes out once, whichever of the two events comes again."""
    member, order_id = new_id("m"), new_id("o")
    address = f"{member}@example.com"
    first = await notification.confirm(order_id, member, total=12_600)
    await notification.handled(first)
    await notification.publish(confirmed(order_id, member), order_id, event_id=first.id)
    # Same partition, after the copy: once this is handled, so is the copy.
    await notification.handled(
        await notification.publish(OrderDeliveredV1(order_id=order_id, member_id=member), order_id)
    )
    assert await notification.deliveries(member_id=member) == []
    assert notification.mail.to(address) == []

    registration = uuid.uuid4()
    registered = MemberRegisteredV1(
        member_id=member, email=address, name="Dora", locale="en", registered_at=datetime.now(UTC)
    )
    await notification.publish(registered, member, event_id=registration)
    await notification.publish(coupon(member, "WELCOME_GIFT", "WELCOME-D"), member)
    mails = await notification.mail.wait_for(address, count=2)
    assert sorted(m["Subject"] for m in mails) == [
        "Order confirmed: " + order_id,
        "Welcome, Dora! Your welcome gift is here",
    ]
    [mail] = [m for m in mails if m["Subject"].startswith("Order confirmed")]
    assert "Dora" in text_of(mail) and "Amount paid: CNY 126.00." in text_of(mail)

    # Both events again: the registration (then a marketing coupon nobody consented to, as a
    # marker on its partition) and the order's confirmation (then a marker on its own).
    await notification.publish(registered, member, event_id=registration)
    await notification.publish(confirmed(order_id, member), order_id, event_id=first.id)
    await notification.handled(
        await notification.publish(coupon(member, "FIRST_ORDER", "FIRST-D"), member)
    )
    await notification.handled(
        await notification.publish(
            OrderCompletedV1(order_id=order_id, member_id=member, total=cny(12_600)), order_id
        )
    )
    await asyncio.sleep(0.5)  # a few dispatch rounds: no duplicate may show up
    assert len(notification.mail.to(address)) == 2
    rows = await notification.deliveries(member_id=member)
    assert sorted((r.template, r.status) for r in rows) == [
        ("order_confirmed", "SENT"),
        ("welcome", "SENT"),
    ]
    [released] = [r for r in rows if r.template == "order_confirmed"]
    assert released.cause_event_id == str(first.id) and released.correlation_id == order_id
