"""Messages to members not known here yet, kept until their registration is handled.

Order and payment events name the member by id only, and `order.events` is not ordered with
`membership.events`: after an outage, or within one poll, an order's event can be handled
before the member's `membership.member.registered`. Its message is parked here (one INSERT,
in the handler's transaction) instead of being lost; recording the registration takes the
member's parked messages back with one DELETE ... RETURNING (`notify.release_parked`), in
that transaction too. Nothing here runs for a member who is known (the normal case).

A message parked while the registration's transaction is open would be missed by its DELETE
(the parked row is not committed yet) and kept until it expires. Both sides take the member's
lock (`chassis.locks`) first: the parking side reads the recipient again under it, so either
the registration committed first and the message is not parked, or the parked row committed
first and the registration's DELETE, which waited, takes it.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.columns import table_of
from chassis.db import as_utc, insert_ignore
from chassis.locks import lock_name
from chassis.logging import get_logger
from notification_service.deps import NotificationRuntime
from notification_service.domain.templates import SAFETY_TEMPLATES, Template
from notification_service.tables import ParkedMessageRow, RecipientRow
from shared_events import Envelope

log = get_logger(__name__)

_T = table_of(ParkedMessageRow)


@dataclass(frozen=True, slots=True)
class Parked:
    """A parked message as taken back: the event's envelope, the version its handler read it
    as, and the template its notice named."""

    envelope: Envelope
    event_version: int
    template: str
    created_at: datetime


async def park(
    session: AsyncSession,
    member_id: str,
    envelope: Envelope,
    template: Template,
    event_version: int,
) -> bool:
    """Keep the message for later; False when this event's message to the member is already
    parked (a second handling of the event)."""
    row = {
        "id": str(uuid.uuid4()),
        "member_id": member_id,
        "cause_event_id": str(envelope.id),
        "cause_event_type": envelope.type,
        "template": template.value,
        "event_version": event_version,
        "envelope": envelope.model_dump(mode="json"),
        "created_at": datetime.now(UTC),
    }
    return await insert_ignore(session, ParkedMessageRow, row) == 1


def _lock_name(member_id: str) -> str:
    return f"parked-messages:{member_id}"


async def recipient_or_lock(session: AsyncSession, member_id: str) -> RecipientRow | None:
    """The member's recipient row read again under the member's lock, which this transaction
    then holds: a registration committing meanwhile is seen, or waits for this one to end."""
    await lock_name(await session.connection(), _lock_name(member_id))
    return await session.get(RecipientRow, member_id, populate_existing=True)


async def take(session: AsyncSession, member_id: str) -> list[Parked]:
    """Delete the member's parked messages and return them, oldest first (under the member's
    lock: a message being parked now is committed first, then taken)."""
    await lock_name(await session.connection(), _lock_name(member_id))
    result = await session.exec(
        sa.delete(_T)
        .where(_T.c.member_id == member_id)
        .returning(_T.c.envelope, _T.c.event_version, _T.c.template, _T.c.created_at)
    )
    taken = [
        Parked(Envelope.model_validate(envelope), version, template, as_utc(created_at))
        for envelope, version, template, created_at in result.all()
    ]
    # RETURNING has no order: the order the events were handled in is the order they go in.
    return sorted(taken, key=lambda parked: parked.created_at)


async def expire(runtime: NotificationRuntime) -> int:
    """The job: delete messages parked longer than the retention (their member never
    registered here), except safety notices; how many went.

    A recall notice is kept however long it waits, and the operators are warned about it at
    every check: its member may still register here (a registration dead-lettered and
    replayed late) and must then be told, and the (recall, order) claim taken when it was
    parked (service/recalls.py) would stop a re-run of the recall from telling them again."""
    cutoff = datetime.now(UTC) - timedelta(days=runtime.settings.parked_retention_days)
    overdue = _T.c.created_at < cutoff
    safety = _T.c.template.in_([template.value for template in SAFETY_TEMPLATES])
    async with runtime.database.transaction() as session:
        result = await session.exec(
            sa.delete(_T)
            .where(overdue, sa.not_(safety))
            .returning(_T.c.member_id, _T.c.cause_event_type)
        )
        gone: list[Any] = list(result.all())
        waiting = select(_T.c.member_id, _T.c.cause_event_id).where(overdue, safety)
        kept: list[Any] = list((await session.exec(waiting)).all())
    _warn_expired(runtime, gone)
    _warn_kept(runtime, kept)
    return len(gone)


def _warn_expired(runtime: NotificationRuntime, gone: list[Any]) -> None:
    if gone:
        log.warning(
            "parked messages expired: their members never registered here",
            messages=len(gone),
            members=len({member_id for member_id, _ in gone}),
            event_types=sorted({event_type for _, event_type in gone}),
            retention_days=runtime.settings.parked_retention_days,
        )


def _warn_kept(runtime: NotificationRuntime, kept: list[Any]) -> None:
    """An error at every check while they wait: someone has to reach these members."""
    if kept:
        log.error(
            "safety notices parked past the retention, kept: their members are not known here",
            messages=len(kept),
            member_ids=sorted({member_id for member_id, _ in kept}),
            event_ids=sorted(event_id for _, event_id in kept),
            retention_days=runtime.settings.parked_retention_days,
        )
