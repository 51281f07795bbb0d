"""Preferences: per member, per channel opt-out and marketing consent. Owned here; consent
also follows `membership.member.updated` (the last change wins, whichever side made it).
Events read them through the in-process cache (`cached`); every write goes through `change`,
which tells the cache."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.auth import Principal
from chassis.db import as_utc, insert_ignore
from notification_service.deps import NotificationRuntime
from notification_service.domain.preferences import Preferences
from notification_service.schemas import PreferencesPublic, PreferencesPut
from notification_service.service.cache import NotificationCache
from notification_service.tables import PreferenceRow

DEFAULTS = Preferences()


async def load(session: AsyncSession, member_id: str) -> Preferences:
    row = await session.get(PreferenceRow, member_id)
    if row is None:
        return DEFAULTS
    return Preferences(
        email=row.email, sms=row.sms, webhook=row.webhook, marketing_consent=row.marketing_consent
    )


async def cached(session: AsyncSession, cache: NotificationCache, member_id: str) -> Preferences:
    """`load`, through the cache: what the events read."""
    return await cache.preferences(session, member_id, load)


async def change(
    session: AsyncSession, member_id: str, changes: dict[str, Any], cache: NotificationCache
) -> None:
    """Apply `changes` to the member's row, creating it with the defaults first. Safe against
    a concurrent first write (the API and a consumer): the insert is ignored on conflict.
    The cache forgets the member now and again when the transaction commits."""
    cache.preferences_written(session, member_id)
    at = datetime.now(UTC)
    await insert_ignore(
        session,
        PreferenceRow,
        {
            "member_id": member_id,
            "email": DEFAULTS.email,
            "sms": DEFAULTS.sms,
            "webhook": DEFAULTS.webhook,
            "marketing_consent": DEFAULTS.marketing_consent,
            "updated_at": at,
        },
    )
    if changes:
        await session.exec(
            sa.update(PreferenceRow)
            .where(PreferenceRow.member_id == member_id)  # type: ignore[arg-type]
            .values(**changes, updated_at=at)
        )


def _public(preferences: Preferences, row: PreferenceRow | None) -> PreferencesPublic:
    return PreferencesPublic(
        email=preferences.email,
        sms=preferences.sms,
        webhook=preferences.webhook,
        marketing_consent=preferences.marketing_consent,
        updated_at=as_utc(row.updated_at) if row else None,
    )


async def get_preferences(runtime: NotificationRuntime, member: Principal) -> PreferencesPublic:
    async with runtime.database.sessions() as session:
        row = await session.get(PreferenceRow, member.subject)
        return _public(await load(session, member.subject), row)


async def put_preferences(
    runtime: NotificationRuntime, member: Principal, body: PreferencesPut
) -> PreferencesPublic:
    """Fields left out keep their value."""
    async with runtime.database.transaction() as session:
        changes = body.model_dump(exclude_none=True)
        await change(session, member.subject, changes, runtime.state.cache)
        row = await session.get(PreferenceRow, member.subject, populate_existing=True)
        return _public(await load(session, member.subject), row)
