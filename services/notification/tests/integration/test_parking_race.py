"""A message for a member not known yet is parked, and the member's registration takes it back
(service/parking.py). The two come from different topics, handled by different consumers in
transactions of their own: here they overlap on the real PostgreSQL, in both orders, and the
message must be delivered either way, never left parked."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa

from chassis.consumer import Delivery
from chassis.testing.events import envelope_of
from notification_service import handlers
from notification_service.deps import NotificationRuntime
from notification_service.tables import ParkedMessageRow
from shared_events import EventPayload
from shared_events.membership import MemberRegisteredV1

from .conftest import Notification, confirmed, new_id

pytestmark = pytest.mark.integration

HOLD_SECONDS = 0.5  # how long the first transaction stays open once its handler has run


async def handle_and_hold(
    runtime: NotificationRuntime, event: EventPayload, started: asyncio.Event | None
) -> None:
    """Handle `event` in a transaction of its own; with `started`, set it once the handler ran
    and keep the transaction open a moment before committing."""
    async with runtime.database.transaction() as session:
        delivery = Delivery(session, envelope_of(event), runtime=runtime)
        if isinstance(event, MemberRegisteredV1):
            await handlers.on_member_registered(delivery, event)
        else:
            await handlers.on_announced(delivery, event)
        if started is not None:
            started.set()
            await asyncio.sleep(HOLD_SECONDS)


@pytest.mark.parametrize("first", ["order", "registration"])
async def test_a_message_parked_while_the_registration_runs_is_delivered(
    notification: Notification, first: str
) -> None:
    runtime = notification.runtime
    member_id, order_id = new_id("m"), new_id("o")
    order = confirmed(order_id, member_id)
    registration = MemberRegisteredV1(
        member_id=member_id,
        email="late@example.com",
        name="Late",
        locale="en",
        registered_at=datetime.now(UTC),
    )
    leading, following = (order, registration) if first == "order" else (registration, order)
    started = asyncio.Event()

    async def follow() -> None:
        await started.wait()  # the other transaction ran its handler and is still open
        await handle_and_hold(runtime, following, None)

    await asyncio.gather(handle_and_hold(runtime, leading, started), follow())

    async with runtime.database.sessions() as session:
        parked = (
            await session.exec(
                sa.select(sa.func.count())
                .select_from(ParkedMessageRow)
                .where(ParkedMessageRow.member_id == member_id)  # type: ignore[arg-type]
            )
        ).one()
    assert parked == (0,)
    deliveries = await notification.deliveries(member_id=member_id)
    assert [(d.template, d.recipient) for d in deliveries] == [
        ("order_confirmed", "late@example.com")
    ]
