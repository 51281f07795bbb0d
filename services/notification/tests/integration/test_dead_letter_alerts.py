"""The operators hear when a dead-letter topic receives records: one email per DLQ per quiet
period, counting what arrived; the dead letters' own event types are never acted on."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col

from notification_service.service import dead_letters
from notification_service.tables import DeadLetterAlertRow
from shared_events import registry, to_kafka
from shared_events.topics import ORDER_EVENTS

from .conftest import OPERATOR, Notification, confirmed, new_id
from .servers import text_of

pytestmark = pytest.mark.integration

DLQ = f"{ORDER_EVENTS}.dlq"


async def dead_letter(notification: Notification, member_id: str) -> None:
    """An order confirmation dead-lettered by some consumer, as chassis.consumer writes it."""
    order_id = new_id("o")
    record = to_kafka(registry.envelope(confirmed(order_id, member_id), subject=order_id))
    headers = [
        *record.headers,
        ("dlq_error", b"ValueError: boom"),
        ("dlq_consumer", b"analytics-orders"),
        ("dlq_topic", ORDER_EVENTS.encode()),
        ("dlq_partition", b"0"),
        ("dlq_offset", b"0"),
        ("dlq_attempts", b"5"),
    ]
    await notification.producer.send_raw(DLQ, record.value, record.key, headers)


async def test_operators_get_one_email_per_dlq_per_quiet_period(
    notification: Notification,
) -> None:
    member = new_id("m")
    address = f"{member}@example.com"
    await notification.register(member, address, "en", "Li Lei")
    await notification.mail.wait_for(address)  # the welcome

    for _ in range(2):
        await dead_letter(notification, member)
    assert await dead_letters.watch(notification.runtime) == 1  # one operator
    (mail,) = await notification.mail.wait_for(OPERATOR)
    assert mail["Subject"] == f"Dead letters: 2 new on {DLQ}"
    body = text_of(mail)
    assert f"2 records of {ORDER_EVENTS} could not be handled" in body
    assert f"python -m chassis.dlq list --topic {ORDER_EVENTS}" in body
    assert "It holds 2 now." in body and "every 15 minutes" in body

    # More arrive within the quiet period: nothing yet.
    for _ in range(3):
        await dead_letter(notification, member)
    assert await dead_letters.watch(notification.runtime) == 0

    # The quiet period over: one email counting what arrived meanwhile.
    async with notification.runtime.database.transaction() as session:
        await session.exec(
            sa.update(DeadLetterAlertRow)
            .where(col(DeadLetterAlertRow.topic) == DLQ)
            .values(notified_at=DeadLetterAlertRow.notified_at - timedelta(minutes=16))  # type: ignore[operator]
        )
    assert await dead_letters.watch(notification.runtime) == 1
    mails = await notification.mail.wait_for(OPERATOR, count=2)
    assert mails[1]["Subject"] == f"Dead letters: 3 new on {DLQ}"
    assert "since the last message about it. It holds 5 now." in text_of(mails[1])
    assert await dead_letters.watch(notification.runtime) == 0  # nothing new

    # The dead letters are order confirmations: the member was never told of those orders.
    assert len(notification.mail.to(address)) == 1
    (row,) = await notification.deliveries(recipient=OPERATOR, subject=mails[1]["Subject"])
    assert row.cause_event_type == "ops.dead_letters" and row.template == "dead_letters"
