"""Points: every change is a ledger row plus the member's two balances, in the caller's
transaction (`LockedMember.apply`, written by `member_rows.save_member`); expiry is a job (and
runs for a member before their points are held)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import col, select

from chassis.logging import get_logger
from chassis.staging import Stage, session_stage
from membership_service.config import MembershipSettings
from membership_service.deps import MembershipRuntime
from membership_service.domain.points import USING_KINDS, Change, PointsRules, due_to_expire
from membership_service.service import member_rows
from membership_service.service.member_rows import LockedMember
from membership_service.tables import PointsLotRow
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
    """The expiry job: members with lots that came due since the last run, a batch at a
    time, each in its own transaction. Returns how many points expired."""
    settings = runtime.settings
    at = datetime.now(UTC)
    async with runtime.database.sessions() as session:
        members = (
            await session.exec(
                select(PointsLotRow.member_id)
                .where(~col(PointsLotRow.settled), col(PointsLotRow.expires_at) <= at)
                .distinct()
                .limit(settings.job_batch_size)
            )
        ).all()
    expired = 0
    for member_id in members:
        async with runtime.database.transaction() as session:
            conn = await session.connection()
            member = await member_rows.lock_member(conn, member_id)
            if member is not None:
                expired += await expire_due(
                    conn, session_stage(runtime.outbox, session), member, at
                )
                await member_rows.save_member(conn, member)
    return expired
