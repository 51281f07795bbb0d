"""Final deliveries (SENT, FAILED) are deleted `NOTIFICATION_DELIVERY_KEEP_DAYS` after their last
change, with the message they kept; rows still due, and recent ones, stay (service/retention.py),
on the real PostgreSQL."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from notification_service.service.retention import delete_old_deliveries
from notification_service.tables import DeliveryRow

from .conftest import Notification

pytestmark = pytest.mark.integration


def delivery(status: str, days_ago: float, member_id: str) -> DeliveryRow:
    at = datetime.now(UTC) - timedelta(days=days_ago)
    return DeliveryRow(
        id=str(uuid.uuid4()),
        cause_event_id=str(uuid.uuid4()),
        cause_event_type="order.order.confirmed",
        channel="EMAIL",
        recipient="kept@example.com",
        member_id=member_id,
        template="order_confirmed",
        subject="Your order",
        body="coupon WELCOME-123",
        status=status,
        attempts=1,
        created_at=at,
        updated_at=at,
        next_attempt_at=at if status in ("PENDING", "RETRY") else None,
    )


async def test_final_deliveries_past_the_retention_are_deleted(
    notification: Notification,
) -> None:
    member = f"m-{uuid.uuid4()}"
    keep_days = notification.settings.delivery_keep_days
    rows = {
        "old sent": delivery("SENT", keep_days + 1, member),
        "old failed": delivery("FAILED", keep_days + 1, member),
        "old but due": delivery("RETRY", keep_days + 1, member),
        "recent sent": delivery("SENT", keep_days - 1, member),
    }
    async with notification.database.transaction() as session:
        session.add_all(rows.values())

    assert await delete_old_deliveries(notification.runtime) >= 2
    left = {row.id for row in await notification.deliveries(member_id=member)}
    assert left == {rows["old but due"].id, rows["recent sent"].id}
