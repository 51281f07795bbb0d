"""Points: every change is a ledger row plus the member's two balances, in the caller's
transaction (`LockedMember.apply`, written by `member_rows.save_member`); expiry is a job (and
runs for a member before their points are held)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.logging import get_logger
from chassis.staging import Stage
from membership_service.config import MembershipSettings
from membership_service.deps import MembershipRuntime
from membership_service.domain.points import USING_KINDS, Change, PointsRules, due_to_expire
from membership_service.service import member_rows
from membership_service.service.member_jobs import each_member
from membership_service.service.member_rows import LockedMember
from membership_service.tables import LOTS
from shared_events import membership as events

log = get_logger(__name__)


def rules_of(settings: MembershipSettings) -> PointsRules:
    return PointsRules(
        points_per_yuan=settings.points_per_yuan,
        points_per_yuan_off=settings.points_per_yuan_off,
        ttl_days=settings.points_ttl_days,
    )


async def earn(
    conn: AsyncConnection,
    member: LockedMember,
    points: int,
    *,
    order_id: str,
    at: datetime,
    rules: PointsRules,
) -> Change:
    """Points earned by an order: its lot (for expiry) and the change of the balance."""
    lot = {
        "member_id": member.id,
        "order_id": order_id,
        "points": points,
        "earned_at": at,
        "expires_at": rules.expires_at(at),
        "settled": False,
    }
    await member_rows.add_lot(conn, lot)
    return member.apply(member.points.earn(points), at, order_id)


async def expire_due(
    conn: AsyncConnection, stage: Stage, member: LockedMember, at: datetime
) -> int:
    """Expire what is due for one (locked) member, first in first out; returns the points.
    The member's ledger rows not yet written count as well."""
    earned_due = await member_rows.due_lot_points(conn, member, at)
    if not earned_due:
        return 0
    used, expired = await member_rows.used_and_expired(conn, member.id)
    due = due_to_expire(
        earned_due=earned_due,
        used=-(used + member.pending_delta(USING_KINDS)),
        expired=-(expired + member.pending_delta(member_rows.EXPIRED_KINDS)),
        balance=member.points.balance,
    )
    await member_rows.settle_lots(conn, member.id, at)
    if due:
        change = member.apply(member.points.expire(due), at, None)
        stage(
            events.PointsExpiredV1(
                member_id=member.id, points=change.points, balance=change.balance_after
            ),
            subject=member.id,
        )
        log.info("points expired", member_id=member.id, points=change.points)
    return due


async def expire_points(runtime: MembershipRuntime) -> int:
    """The expiry job: members with lots that came due since the last run
    (`member_jobs.each_member`). Returns how many points expired."""
    at = datetime.now(UTC)

    def pick(after: str | None, limit: int) -> sa.Select[Any]:
        query = sa.select(LOTS.c.member_id).where(~LOTS.c.settled, LOTS.c.expires_at <= at)
        if after is not None:
            query = query.where(LOTS.c.member_id > after)
        return query.distinct().order_by(LOTS.c.member_id).limit(limit)

    async def expire(conn: AsyncConnection, stage: Stage, member: LockedMember) -> int:
        return await expire_due(conn, stage, member, at)

    return await each_member(runtime, "points-expiry", pick, expire)
