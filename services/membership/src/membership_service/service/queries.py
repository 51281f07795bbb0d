"""Row reads and locks the use cases share."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from membership_service.domain.orders import COUNTED_ORDERS
from membership_service.tables import CouponRow, MemberOrderRow, MemberRow


def utc(value: datetime) -> datetime:
    """SQLite keeps no time zone; every time stored is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


async def member(session: AsyncSession, member_id: str, *, lock: bool = False) -> MemberRow | None:
    """Every change of a member's points, coupons or tier locks the member row first, so one
    member's orders (on different partitions) are applied one at a time, in one lock order."""
    query = select(MemberRow).where(MemberRow.id == member_id)
    if lock:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def member_by_email(session: AsyncSession, email: str) -> MemberRow | None:
    return (await session.exec(select(MemberRow).where(MemberRow.email == email))).first()


async def coupon(session: AsyncSession, code: str, *, lock: bool = False) -> CouponRow | None:
    query = select(CouponRow).where(CouponRow.code == code)
    if lock:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def member_order(
    session: AsyncSession, order_id: str, *, lock: bool = False
) -> MemberOrderRow | None:
    query = select(MemberOrderRow).where(MemberOrderRow.order_id == order_id)
    if lock:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def has_counted_orders(session: AsyncSession, member_id: str) -> bool:
    """Whether the member has an order that makes the next one not their first."""
    query = select(MemberOrderRow.order_id).where(
        MemberOrderRow.member_id == member_id,
        col(MemberOrderRow.status).in_([s.value for s in COUNTED_ORDERS]),
    )
    return (await session.exec(query.limit(1))).first() is not None
