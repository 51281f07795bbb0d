"""The delivery log: a member's own messages, and every delivery for admins."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlmodel import col, select

from chassis.db import as_utc
from chassis.pagination import Page, paginate
from notification_service.deps import NotificationRuntime
from notification_service.domain.channels import Channel
from notification_service.domain.delivery import DeliveryStatus
from notification_service.schemas import DeliveryAdmin, DeliveryPublic
from notification_service.service.masking import display_recipient
from notification_service.tables import DeliveryRow

T = TypeVar("T", DeliveryPublic, DeliveryAdmin)


def _public_fields(row: DeliveryRow) -> dict[str, Any]:
    return {
        "id": row.id,
        "channel": Channel(row.channel),
        "template": row.template,
        "subject": row.subject,
        "recipient": display_recipient(row.channel, row.recipient),
        "status": DeliveryStatus(row.status),
        "attempts": row.attempts,
        "created_at": as_utc(row.created_at),
        "sent_at": as_utc(row.sent_at),
    }


def _public(row: DeliveryRow) -> DeliveryPublic:
    return DeliveryPublic(**_public_fields(row))


def _admin(row: DeliveryRow) -> DeliveryAdmin:
    return DeliveryAdmin(
        **_public_fields(row),
        member_id=row.member_id,
        cause_event_id=row.cause_event_id,
        cause_event_type=row.cause_event_type,
        last_error=row.last_error,
        next_attempt_at=as_utc(row.next_attempt_at),
    )


async def _page(
    runtime: NotificationRuntime,
    filters: list[Any],
    page: int,
    size: int,
    shape: Callable[[DeliveryRow], T],
) -> Page[T]:
    statement = (
        select(DeliveryRow)
        .where(*filters)
        .order_by(col(DeliveryRow.created_at).desc(), col(DeliveryRow.id))
    )
    async with runtime.database.snapshot() as session:
        return await paginate(
            session, statement, page=page, size=size, shape=lambda rows: [shape(r) for r in rows]
        )


async def my_deliveries(
    runtime: NotificationRuntime, member_id: str, *, page: int, size: int
) -> Page[DeliveryPublic]:
    """Messages sent to this member (email, SMS), newest first. Webhook deliveries go to
    subscribers, not to the member, and are not listed."""
    filters = [
        col(DeliveryRow.member_id) == member_id,
        col(DeliveryRow.channel) != Channel.WEBHOOK.value,
    ]
    return await _page(runtime, filters, page, size, _public)


async def all_deliveries(
    runtime: NotificationRuntime,
    *,
    member_id: str | None,
    status: DeliveryStatus | None,
    channel: Channel | None,
    page: int,
    size: int,
) -> Page[DeliveryAdmin]:
    filters: list[Any] = []
    if member_id is not None:
        filters.append(col(DeliveryRow.member_id) == member_id)
    if status is not None:
        filters.append(col(DeliveryRow.status) == status.value)
    if channel is not None:
        filters.append(col(DeliveryRow.channel) == channel.value)
    return await _page(runtime, filters, page, size, _admin)
