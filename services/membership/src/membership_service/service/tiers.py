"""Tiers: recomputed from the spend of completed orders in the rolling window whenever that
spend changes, and by a job for tiers whose spend aged out of the window."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select

from chassis.logging import get_logger
from chassis.staging import Stage, session_stage
from membership_service.config import MembershipSettings
from membership_service.deps import MembershipRuntime
from membership_service.domain.tiers import SPEND_CURRENCY, Tier
from membership_service.service import member_rows
from membership_service.service.member_rows import LockedMember
from membership_service.tables import MemberRow
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
    """The tier job: members above the lowest tier not reviewed for a while, a batch at a time.
    Returns how many tiers changed."""
    settings = runtime.settings
    at = datetime.now(UTC)
    stale = at - timedelta(seconds=settings.tier_review_after_seconds)
    async with runtime.database.sessions() as session:
        members = (
            await session.exec(
                select(MemberRow.id)
                .where(
                    MemberRow.tier != Tier.BRONZE.value,
                    col(MemberRow.tier_reviewed_at) <= stale,
                )
                .order_by(col(MemberRow.tier_reviewed_at))
                .limit(settings.job_batch_size)
            )
        ).all()
    changed = 0
    for member_id in members:
        async with runtime.database.transaction() as session:
            conn = await session.connection()
            member = await member_rows.lock_member(conn, member_id)
            if member is None:
                continue
            before = member.tier
            after = await recompute(
                conn, session_stage(runtime.outbox, session), member, settings, at
            )
            await member_rows.save_member(conn, member)
            changed += after.value != before
    return changed
