"""The dispatch job's rounds on the real PostgreSQL and a real SMTP server, where they end
otherwise than by recording every outcome: a shutdown in the middle of a round (the chassis
cancels the job), and rows whose earlier rounds were never recorded (a replica killed
mid-round: their attempts were counted, their outcomes lost)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import select

from chassis.db import Database
from chassis.testing.infra import free_port
from chassis.testing.service import ServersUnderTest
from chassis.testing.serving import serve_app
from notification_service.domain.channels import Channel
from notification_service.domain.delivery import DeliveryStatus
from notification_service.main import create_app
from notification_service.service.dispatch import INTERRUPTED, NOT_RECORDED
from notification_service.tables import DeliveryRow

from .conftest import Notification, new_id, notification_settings
from .servers import MailCatcher, eventually

pytestmark = pytest.mark.integration

Recorded = tuple[str, int, str | None]  # status, attempts, last error


class HoldingMailCatcher(MailCatcher):
    """Holds the message to `held` (the server does not answer its DATA) until `released`,
    then refuses it with a 451; messages to that address after the release are taken."""

    def __init__(self, held: str) -> None:
        super().__init__()
        self.held = held
        self.holding = threading.Event()
        self.released = threading.Event()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        if self.held in envelope.rcpt_tos and not self.released.is_set():
            self.holding.set()
            # The release comes from the test's thread; this is the server's event loop.
            await asyncio.get_running_loop().run_in_executor(None, self.released.wait)
            return "451 4.3.0 try again later"
        return await super().handle_DATA(server, session, envelope)


async def queue_emails(
    database: Database, addresses: list[str], *, attempts: int = 0, status: str = "PENDING"
) -> None:
    """Delivery rows due now, in this order, written in one transaction (one round takes
    them all)."""
    now = datetime.now(UTC)
    async with database.transaction() as session:
        for n, address in enumerate(addresses):
            due = now - timedelta(milliseconds=len(addresses) - n)
            session.add(
                DeliveryRow(
                    id=str(uuid.uuid4()),
                    cause_event_id=str(uuid.uuid4()),
                    cause_event_type="test.dispatch",
                    channel=Channel.EMAIL.value,
                    recipient=address,
                    template="order_confirmed",
                    subject=f"For {address}",
                    body="Hello",
                    status=status,
                    attempts=attempts,
                    created_at=now,
                    updated_at=now,
                    next_attempt_at=due,
                )
            )


async def recorded(database: Database) -> dict[str, Recorded]:
    """Each delivery's status, attempts and last error, by recipient."""
    async with database.sessions() as session:
        rows = (await session.exec(select(DeliveryRow))).all()
    return {row.recipient: (row.status, row.attempts, row.last_error) for row in rows}


def address() -> str:
    return f"{new_id('m')}@example.com"


@pytest.fixture
def second() -> str:
    return address()


@pytest.fixture
def holding(second: str) -> Iterator[tuple[HoldingMailCatcher, int]]:
    catcher, port = HoldingMailCatcher(held=second), free_port()
    catcher.serve("127.0.0.1", port)
    try:
        yield catcher, port
    finally:
        catcher.released.set()
        catcher.stop()


async def test_a_round_stopped_by_a_shutdown_records_what_it_sent(
    servers_under_test: ServersUnderTest,
    isolated_kafka: str,
    holding: tuple[HoldingMailCatcher, int],
    second: str,
) -> None:
    """One email at a time: the first is taken by the mail server, the second is in flight
    when the service stops (a rolling deploy), the third has not started. The first must not
    be sent again by the next replica; the other two must go, once."""
    mail, smtp_port = holding
    settings = await notification_settings(
        servers_under_test,
        isolated_kafka,
        smtp_port,
        dispatch_concurrency=1,
        smtp_timeout_seconds=60,  # the held email waits for the stop, not for a timeout
    )
    first, third = address(), address()
    database = Database(settings.database_url)
    try:
        app = create_app(settings)
        async with serve_app(app):
            await queue_emails(app.state.runtime.database, [first, second, third])
            await eventually(mail.holding.is_set, what="the second email in flight")
            assert len(mail.to(first)) == 1
        # Stopped mid-round: the round was recorded before the process went on to exit.
        assert await recorded(database) == {
            first: ("SENT", 1, None),
            second: ("RETRY", 1, INTERRUPTED),  # the server may have taken it: counted
            third: ("PENDING", 0, None),  # never started: given back, due at once
        }

        mail.released.set()
        async with serve_app(create_app(settings)):
            await mail.wait_for(second)
            await mail.wait_for(third)

            async def all_sent() -> bool:
                statuses = {status for status, _, _ in (await recorded(database)).values()}
                return statuses == {DeliveryStatus.SENT.value}

            await eventually(all_sent, what="every delivery recorded SENT")
        assert [len(mail.to(a)) for a in (first, second, third)] == [1, 1, 1]
    finally:
        await database.dispose()


async def test_a_row_with_no_attempt_left_is_failed_instead_of_sent_again(
    notification: Notification,
) -> None:
    """Rows as a replica killed mid-round leaves them once their lease has run out: the
    attempt counted, its outcome never recorded. One that had its last attempt is FAILED (and
    announced so) without another send; one with an attempt left is sent."""
    most = notification.settings.message_max_attempts
    spent, last_chance = address(), address()
    database = notification.runtime.database
    await queue_emails(database, [spent], attempts=most, status="RETRY")
    await queue_emails(database, [last_chance], attempts=most - 1, status="RETRY")

    async def final() -> dict[str, Recorded] | None:
        rows = await recorded(database)
        done = all(status in ("SENT", "FAILED") for status, _, _ in rows.values())
        return rows if done else None

    assert await eventually(final, what="both deliveries final") == {
        spent: ("FAILED", most, NOT_RECORDED),
        last_chance: ("SENT", most, None),
    }
    assert notification.mail.to(spent) == []
    assert len(notification.mail.to(last_chance)) == 1
    events = await notification.published(
        until=lambda got: any(e.type == "notification.delivery.failed" for e in got)
    )
    [failed] = [e for e in events if e.type == "notification.delivery.failed"]
    assert (failed.data["attempts"], failed.data["error"]) == (most, NOT_RECORDED)
