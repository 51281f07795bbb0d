"""Coupons: issued on registration (welcome gift, first order) and by admins (spend
threshold); held, redeemed and restored by the order saga (saga.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import as_utc
from chassis.errors import NotFound
from chassis.logging import get_logger
from chassis.staging import Stage, session_stage
from membership_service.config import MembershipSettings
from membership_service.deps import MembershipRuntime
from membership_service.domain.coupons import (
    Coupon,
    CouponKind,
    CouponStatus,
    CouponTerms,
    new_code,
)
from membership_service.schemas import (
    CouponAdmin,
    CouponCreate,
    CouponPublic,
    MoneyPublic,
    minor_units,
)
from membership_service.service import queries
from membership_service.tables import CouponRow
from shared_events import membership as events
from shared_events.money import Money

log = get_logger(__name__)


def registration_terms(settings: MembershipSettings) -> list[CouponTerms]:
    """What every new member gets: the welcome gift and the first-order coupon."""
    return [
        CouponTerms(
            CouponKind.WELCOME_GIFT,
            settings.welcome_coupon_amount_off,
            settings.welcome_coupon_min_spend,
            settings.welcome_coupon_valid_days,
        ),
        CouponTerms(
            CouponKind.FIRST_ORDER,
            settings.first_order_coupon_amount_off,
            settings.first_order_coupon_min_spend,
            settings.first_order_coupon_valid_days,
            first_order_only=True,
        ),
    ]


def coupon_of(row: CouponRow | sa.Row[*tuple[Any, ...]]) -> Coupon:
    """The coupon of a row: a loaded `CouponRow` (the API) or a Core row of the same columns
    (the saga's locked read)."""
    return Coupon(
        code=row.code,
        member_id=row.member_id,
        kind=CouponKind(row.kind),
        amount_off=row.amount_off,
        min_spend=row.min_spend,
        valid_from=as_utc(row.valid_from),
        valid_until=as_utc(row.valid_until),
        first_order_only=row.first_order_only,
        status=CouponStatus(row.status),
        order_id=row.order_id,
        currency=row.currency,
    )


def _money(coupon: Coupon, amount: int) -> Money:
    return Money(amount=amount, currency=coupon.currency)


def public(coupon: Coupon, at: datetime) -> CouponPublic:
    return CouponPublic(
        code=coupon.code,
        kind=coupon.kind,
        amount_off=MoneyPublic(amount=coupon.amount_off, currency=coupon.currency),
        min_spend=MoneyPublic(amount=coupon.min_spend, currency=coupon.currency),
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        first_order_only=coupon.first_order_only,
        status=coupon.shown_status(at),
    )


def issue(
    session: AsyncSession, stage: Stage, terms: CouponTerms, member_id: str, at: datetime
) -> Coupon:
    """A new coupon and its `membership.coupon.issued`, in the caller's transaction. The code
    is random over 31**12; the primary key refuses the improbable duplicate."""
    coupon = terms.issue(new_code(), member_id, at)
    session.add(
        CouponRow(
            code=coupon.code,
            member_id=member_id,
            kind=coupon.kind.value,
            amount_off=coupon.amount_off,
            min_spend=coupon.min_spend,
            currency=coupon.currency,
            valid_from=coupon.valid_from,
            valid_until=coupon.valid_until,
            first_order_only=coupon.first_order_only,
            status=coupon.status.value,
            issued_at=at,
            updated_at=at,
        )
    )
    stage(
        events.CouponIssuedV1(
            member_id=member_id,
            coupon_code=coupon.code,
            kind=coupon.kind.value,
            amount_off=_money(coupon, coupon.amount_off),
            min_spend=_money(coupon, coupon.min_spend),
            valid_from=coupon.valid_from,
            valid_until=coupon.valid_until,
            first_order_only=coupon.first_order_only,
        ),
        subject=member_id,
    )
    log.info("coupon issued", member_id=member_id, kind=coupon.kind.value)
    return coupon


async def issue_by_admin(runtime: MembershipRuntime, data: CouponCreate) -> CouponAdmin:
    terms = CouponTerms(
        CouponKind.SPEND_THRESHOLD,
        minor_units(data.amount_off),
        minor_units(data.min_spend),
        data.valid_days,
    )
    at = datetime.now(UTC)
    async with runtime.database.transaction() as session:
        if await queries.member(session, data.member_id) is None:
            raise NotFound(f"member {data.member_id} does not exist")
        coupon = issue(session, session_stage(runtime.outbox, session), terms, data.member_id, at)
    return CouponAdmin(**public(coupon, at).model_dump(), member_id=coupon.member_id)


async def of_member(session: AsyncSession, member_id: str) -> list[Coupon]:
    rows = await session.exec(
        select(CouponRow)
        .where(CouponRow.member_id == member_id)
        .order_by(col(CouponRow.valid_until), col(CouponRow.code))
    )
    return [coupon_of(row) for row in rows.all()]


def stage_redeemed(stage: Stage, coupon: Coupon, order_id: str) -> None:
    stage(
        events.CouponRedeemedV1(
            order_id=order_id, member_id=coupon.member_id, coupon_code=coupon.code
        ),
        subject=order_id,
    )


def stage_restored(stage: Stage, coupon: Coupon, order_id: str, reason: str) -> None:
    stage(
        events.CouponRestoredV1(
            order_id=order_id, member_id=coupon.member_id, coupon_code=coupon.code, reason=reason
        ),
        subject=order_id,
    )
