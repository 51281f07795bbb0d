"""Tiers: recomputed from the spend of completed orders in the rolling window whenever that
spend changes, and by a job for tiers whose spend aged out of the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.logging import get_logger
from chassis.staging import Stage
from membership_service.config import MembershipSettings
from membership_service.deps import MembershipRuntime
from membership_service.domain.tiers import SPEND_CURRENCY, Tier
from membership_service.service import member_rows
from membership_service.service.member_jobs import each_member
from membership_service.service.member_rows import LockedMember
from membership_service.tables import MEMBERS
from shared_events import membership as events
from shared_events.money import Money

log = get_logger(__name__)


async def recompute(
    conn: AsyncConnection,
    stage: Stage,
    member: LockedMember,
    settings: MembershipSettings,
    at: datetime,
) -> Tier:
    """The member's tier from their spend (as stored: the caller writes the order's row
    first); stages `membership.tier.changed` when it moves."""
    spend = await member_rows.spend_in_window(conn, member.id, at, settings.tier_window_days)
    table = settings.tiers
    old, new = Tier(member.tier), table.tier_for(spend)
    member.tier_reviewed_at, member.changed = at, True
    if new is not old:
        member.tier, member.updated_at = new.value, at
        stage(
            events.TierChangedV1(
                member_id=member.id,
                old_tier=old.value,
                new_tier=new.value,
                discount_percent=table.discount_percent(new),
                spend_12m=Money(amount=spend, currency=SPEND_CURRENCY),
            ),
            subject=member.id,
        )
        log.info("tier changed", member_id=member.id, old_tier=old.value, new_tier=new.value)
    return new


async def review_tiers(runtime: MembershipRuntime) -> int:
    """The tier job: members above the lowest tier not reviewed for a while
    (`member_jobs.each_member`). Returns how many tiers changed."""
    settings = runtime.settings
    at = datetime.now(UTC)
    stale = at - timedelta(seconds=settings.tier_review_after_seconds)

    def pick(after: str | None, limit: int) -> sa.Select[Any]:
        query = sa.select(MEMBERS.c.id).where(
            MEMBERS.c.tier != Tier.BRONZE.value, MEMBERS.c.tier_reviewed_at <= stale
        )
        if after is not None:
            query = query.where(MEMBERS.c.id > after)
        return query.order_by(MEMBERS.c.id).limit(limit)

    async def review(conn: AsyncConnection, stage: Stage, member: LockedMember) -> int:
        before = member.tier
        after = await recompute(conn, stage, member, settings, at)
        return int(after.value != before)

    return await each_member(runtime, "tier-review", pick, review)
