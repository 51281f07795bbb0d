"""Points: every change is a ledger row plus the member's two balances, in the caller's
transaction; expiry is a job (and runs for a member before their points are held)."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel import col, func, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.logging import get_logger
from membership_service.config import MembershipSettings
from membership_service.deps import MembershipRuntime
from membership_service.domain.points import (
    USING_KINDS,
    Change,
    LedgerKind,
    Points,
    PointsRules,
    due_to_expire,
)
from membership_service.service import queries
from membership_service.service.staging import Stage, outbox_stage
from membership_service.tables import LEDGER, LOTS, MemberRow, PointsLedgerRow, PointsLotRow
from shared_events import membership as events

log = get_logger(__name__)


def rules_of(settings: MembershipSettings) -> PointsRules:
    return PointsRules(
        points_per_yuan=settings.points_per_yuan,
        points_per_yuan_off=settings.points_per_yuan_off,
        ttl_days=settings.points_ttl_days,
    )


def points_of(member: MemberRow) -> Points:
    return Points(member.points_balance, member.points_held)


def apply(
    session: AsyncSession,
    member: MemberRow,
    step: tuple[Points, Change],
    at: datetime,
    order_id: str | None = None,
) -> Change:
    """Write one change: the ledger row and the member's balances."""
    after, change = step
    member.points_balance, member.points_held, member.updated_at = after.balance, after.held, at
    session.add(member)
    session.add(
        PointsLedgerRow(
            member_id=member.id,
            kind=change.kind.value,
            delta=change.delta,
            held_delta=change.held_delta,
            balance_after=change.balance_after,
            held_after=change.held_after,
            order_id=order_id,
            at=at,
        )
    )
    return change


def earn(
    session: AsyncSession,
    member: MemberRow,
    points: int,
    *,
    order_id: str,
    at: datetime,
    rules: PointsRules,
) -> Change:
    session.add(
        PointsLotRow(
            member_id=member.id,
            order_id=order_id,
            points=points,
            earned_at=at,
            expires_at=rules.expires_at(at),
        )
    )
    return apply(session, member, points_of(member).earn(points), at, order_id)


async def _ledger_sum(session: AsyncSession, member_id: str, kinds: tuple[LedgerKind, ...]) -> int:
    total = (
        await session.exec(
            select(func.coalesce(func.sum(LEDGER.c.delta), 0)).where(
                LEDGER.c.member_id == member_id, LEDGER.c.kind.in_([k.value for k in kinds])
            )
        )
    ).one()
    return int(total)


async def expire_due(session: AsyncSession, stage: Stage, member: MemberRow, at: datetime) -> int:
    """Expire what is due for one (locked) member, first in first out; returns the points."""
    earned_due = (
        await session.exec(
            select(func.coalesce(func.sum(LOTS.c.points), 0)).where(
                LOTS.c.member_id == member.id, LOTS.c.expires_at <= at
            )
        )
    ).one()
    if not earned_due:
        return 0
    due = due_to_expire(
        earned_due=int(earned_due),
        used=-await _ledger_sum(session, member.id, USING_KINDS),
        expired=-await _ledger_sum(session, member.id, (LedgerKind.EXPIRE,)),
        balance=member.points_balance,
    )
    await session.exec(
        sa.update(LOTS)
        .where(LOTS.c.member_id == member.id, LOTS.c.expires_at <= at, ~LOTS.c.settled)
        .values(settled=True)
    )
    if due:
        change = apply(session, member, points_of(member).expire(due), at)
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
            member = await queries.member(session, member_id, lock=True)
            if member is not None:
                expired += await expire_due(session, outbox_stage(runtime, session), member, at)
    return expired
