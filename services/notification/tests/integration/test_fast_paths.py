"""What makes handling cheap must not make it wrong: the in-process cache of preferences and
webhook subscriptions follows every change (this replica's own at once, another replica's
through the change feed), and emails share kept-open SMTP connections that are replaced when
the mail server drops them or restarts.

The fixture's cache entries never age out (cache_ttl_seconds=300): a change only becomes
visible through invalidation, so these tests fail if invalidation breaks."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import pytest

from notification_service.adapters.channel import Message
from notification_service.adapters.email import SmtpEmail
from notification_service.service import preferences
from notification_service.service.cache import WEBHOOKS, NotificationCache, preferences_key
from shared_events.inventory import StockLowV1

from .conftest import CACHE_CHECK, MAIL_FROM, Notification, new_id
from .servers import MailCatcher, WebhookReceiver, eventually
from .test_webhooks import subscribe

pytestmark = pytest.mark.integration

PREFERENCES = "/api/v1/notifications/preferences"


async def templates_of(notification: Notification, member_id: str) -> list[str]:
    return [d.template for d in await notification.deliveries(member_id=member_id)]


async def test_a_preference_change_through_the_api_applies_to_the_next_event(
    notification: Notification,
) -> None:
    member_id = new_id("m")
    address = f"{member_id}@example.com"
    await notification.register(member_id, address, "en", "Erin")
    await notification.mail.wait_for(address)  # the welcome: the defaults are now cached
    assert preferences_key(member_id) in notification.runtime.state.cache

    off = await notification.http.put(
        PREFERENCES, json={"email": False}, headers=notification.member(member_id)
    )
    assert off.status_code == 200
    await notification.handled(await notification.confirm(new_id("o"), member_id))
    assert await templates_of(notification, member_id) == ["welcome"]

    on = await notification.http.put(
        PREFERENCES, json={"email": True}, headers=notification.member(member_id)
    )
    assert on.status_code == 200
    await notification.confirm(new_id("o"), member_id)
    await notification.mail.wait_for(address, count=2)
    assert await templates_of(notification, member_id) == ["welcome", "order_confirmed"]


async def test_a_change_made_by_another_replica_is_seen_within_the_check_interval(
    notification: Notification,
) -> None:
    member_id = new_id("m")
    address = f"{member_id}@example.com"
    await notification.register(member_id, address, "en", "Frank")
    await notification.mail.wait_for(address)
    assert preferences_key(member_id) in notification.runtime.state.cache

    # Another replica: its own cache on the same database and Redis. This one is not told.
    other = NotificationCache(ttl_seconds=300)
    other.attach(notification.runtime.redis, notification.settings.redis_key_prefix)
    async with notification.runtime.database.transaction() as session:
        await preferences.change(session, member_id, {"email": False}, other)
    await other.close()  # its change is published
    await asyncio.sleep(CACHE_CHECK * 2)  # the documented bound

    await notification.handled(await notification.confirm(new_id("o"), member_id))
    assert await templates_of(notification, member_id) == ["welcome"]


async def test_a_webhook_subscription_added_then_removed_applies_to_the_next_event(
    notification: Notification, receiver: WebhookReceiver
) -> None:
    async def stock_low() -> Any:
        sku = new_id("TEA")
        low = await notification.publish(StockLowV1(sku=sku, available=1, safety_stock=5), sku)
        await notification.handled(low)
        return low

    before = await stock_low()  # no subscriber yet, and that is now cached
    assert WEBHOOKS in notification.runtime.state.cache
    assert await notification.deliveries(cause_event_id=str(before.id), channel="WEBHOOK") == []

    created = await subscribe(notification, receiver.url, ["inventory.stock.low"])
    during = await stock_low()
    [row] = await notification.deliveries(cause_event_id=str(during.id), channel="WEBHOOK")
    assert row.recipient == created["id"]
    await eventually(lambda: receiver.hits, what="the webhook POST")

    path = f"/api/v1/admin/webhooks/{created['id']}"
    assert (await notification.http.delete(path, headers=notification.admin)).status_code == 204
    after = await stock_low()
    assert await notification.deliveries(cause_event_id=str(after.id), channel="WEBHOOK") == []
    await asyncio.sleep(0.3)  # a few dispatch rounds: nothing more reaches the receiver
    assert [e["id"] for e in receiver.events()] == [str(during.id)]


async def test_emails_share_one_connection_and_survive_a_drop_and_a_restart(
    notification: Notification,
) -> None:
    member_id = new_id("m")
    address = f"{member_id}@example.com"
    await notification.register(member_id, address, "en", "Grace")
    await notification.mail.wait_for(address)
    for n in range(3):
        await notification.confirm(new_id("o"), member_id)
        await notification.mail.wait_for(address, count=2 + n)
    assert notification.mail.connections() == 1  # four emails, one connection

    notification.mail.drop_connections()  # the server hangs up on the idle connection
    await notification.confirm(new_id("o"), member_id)
    await notification.mail.wait_for(address, count=5)
    notification.mail.restart()  # the mail server restarts
    await notification.confirm(new_id("o"), member_id)
    await notification.mail.wait_for(address, count=6)
    assert notification.mail.connections() == 3

    async def all_sent() -> Any:
        rows = await notification.deliveries(member_id=member_id)
        return len(rows) == 6 and all(r.status == "SENT" for r in rows) and rows

    rows = await eventually(all_sent, what="six deliveries SENT")
    # Each went at its first attempt: a dead connection is replaced at once, not retried later.
    assert [r.attempts for r in rows] == [1] * 6


async def test_a_burst_uses_at_most_the_pool_and_close_quits(
    smtp: tuple[MailCatcher, int],
) -> None:
    catcher, port = smtp
    email = SmtpEmail(host="127.0.0.1", port=port, mail_from=MAIL_FROM, pool_size=3)
    messages = [Message(f"d-{n}", f"burst-{n}@example.com", "s", "t") for n in range(20)]
    await asyncio.gather(*(email.send(m) for m in messages))
    assert len(catcher.messages) == 20
    assert catcher.connections() == email.connects <= 3
    await email.send(Message("d-20", "burst-20@example.com", "s", "t"))
    assert email.connects <= 3  # reused, not reopened
    await email.close()
    await email.send(Message("d-21", "burst-21@example.com", "s", "t"))  # opens a new one
    assert email.connects <= 4 and len(catcher.messages) == 22
    await email.close()


async def test_a_connection_that_died_unnoticed_is_replaced_at_once(
    smtp: tuple[MailCatcher, int],
) -> None:
    """The hang-up reaches the client only when its event loop looks; a send before that
    finds the pooled connection dead mid-transaction and goes again on a fresh one."""
    catcher, port = smtp
    email = SmtpEmail(host="127.0.0.1", port=port, mail_from=MAIL_FROM, pool_size=1)
    await email.send(Message("d-1", "first@example.com", "s", "t"))
    catcher.drop_connections()
    time.sleep(0.2)  # noqa: ASYNC251 (blocks this loop on purpose: the hang-up goes unseen)
    await email.send(Message("d-2", "second@example.com", "s", "t"))
    assert [m["To"] for m in catcher.messages] == ["first@example.com", "second@example.com"]
    assert email.connects == catcher.connections() == 2
    await email.close()
