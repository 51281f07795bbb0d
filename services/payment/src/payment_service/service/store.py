"""Row-level reads and locks the use cases run inside their transaction."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from payment_service import domain
from payment_service.domain import FailureReason, LedgerKind
from payment_service.tables import FxRateRow, LedgerEntryRow, PaymentIntentRow


async def load_rates(session: AsyncSession) -> dict[tuple[str, str], int]:
    rows = (await session.exec(select(FxRateRow))).all()
    return {(r.base, r.quote): r.rate_micros for r in rows}


async def intent_by_order(
    session: AsyncSession, order_id: str, *, for_update: bool = False
) -> PaymentIntentRow | None:
    query = select(PaymentIntentRow).where(PaymentIntentRow.order_id == order_id)
    if for_update:
        query = query.with_for_update()  # serialises the handlers of one payment
    return (await session.exec(query)).first()


async def provider_reference(session: AsyncSession, intent_id: str, kind: LedgerKind) -> str:
    reference = (
        await session.exec(
            select(LedgerEntryRow.provider_reference).where(
                LedgerEntryRow.intent_id == intent_id, LedgerEntryRow.kind == kind.value
            )
        )
    ).first()
    if reference is None:
        raise domain.PaymentRuleError("no-reference", f"payment {intent_id} has no {kind} entry")
    return reference


async def lock_member(session: AsyncSession, member_id: str) -> None:
    """On PostgreSQL, serialise one member's payment requests so the velocity count is exact
    across replicas (SQLite serialises writers anyway)."""
    if session.bind is None or session.bind.dialect.name != "postgresql":
        return
    key = int.from_bytes(hashlib.sha256(member_id.encode()).digest()[:8], "big", signed=True)
    await session.exec(sa.select(func.pg_advisory_xact_lock(key)))  # type: ignore[call-overload]


async def recent_payments(
    session: AsyncSession, member_id: str, window_seconds: int, now: datetime
) -> int:
    """The member's payment attempts in the window; risk rejections do not count."""
    count = (
        await session.exec(
            select(func.count())
            .select_from(PaymentIntentRow)
            .where(
                PaymentIntentRow.member_id == member_id,
                col(PaymentIntentRow.created_at) >= now - timedelta(seconds=window_seconds),
                or_(
                    col(PaymentIntentRow.failure_reason).is_(None),
                    col(PaymentIntentRow.failure_reason) != FailureReason.RISK_REJECTED.value,
                ),
            )
        )
    ).one()
    return int(count)
