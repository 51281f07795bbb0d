"""The reads, locks and writes of member, order, coupon, ledger and lot rows that the order
events (saga.py) and the points and tier jobs run inside their transaction.

The statements are SQLAlchemy Core, built once at import with bind parameters and executed on
the transaction's connection (`await session.connection()`): no ORM object is loaded or added
per event. A locked member is read as columns into a `LockedMember`, changed in memory by the
use cases (points, ledger rows, tier) and written back once by `save_member`: one UPDATE and
one executemany INSERT of its ledger rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.locks import hold_write_lock
from chassis.row_updates import update_by_key, update_params
from membership_service.domain.coupons import Coupon
from membership_service.domain.orders import COUNTED_ORDERS, Benefits, OrderStatus
from membership_service.domain.points import USING_KINDS, Change, LedgerKind, Points
from membership_service.service.coupons import coupon_of
from membership_service.tables import COUPONS, LEDGER, LOTS, MEMBER_ORDERS, MEMBERS

# Every change of a member's points, coupons or tier locks the member row first, so one
# member's orders (on different partitions) are applied one at a time, in one lock order.
_LOCK_MEMBER = (
    sa.select(
        MEMBERS.c.id,
        MEMBERS.c.points_balance,
        MEMBERS.c.points_held,
        MEMBERS.c.tier,
        MEMBERS.c.tier_reviewed_at,
        MEMBERS.c.updated_at,
    )
    .where(MEMBERS.c.id == sa.bindparam("member_id"))
    .with_for_update(of=MEMBERS)
)
_SAVE_MEMBER = update_by_key(
    MEMBERS, "id", "points_balance", "points_held", "tier", "tier_reviewed_at", "updated_at"
)
_ADD_LEDGER = sa.insert(LEDGER)

_ORDER_COLUMNS = (
    MEMBER_ORDERS.c.order_id,
    MEMBER_ORDERS.c.member_id,
    MEMBER_ORDERS.c.status,
    MEMBER_ORDERS.c.benefits,
    MEMBER_ORDERS.c.currency,
    MEMBER_ORDERS.c.coupon_code,
    MEMBER_ORDERS.c.points,
    MEMBER_ORDERS.c.spend,
    MEMBER_ORDERS.c.points_earned,
    MEMBER_ORDERS.c.completed_at,
    MEMBER_ORDERS.c.created_at,
    MEMBER_ORDERS.c.updated_at,
)
_LOCK_ORDER = (
    sa.select(*_ORDER_COLUMNS)
    .where(MEMBER_ORDERS.c.order_id == sa.bindparam("order_id"))
    .with_for_update()
)
_ADD_ORDER = sa.insert(MEMBER_ORDERS)
# What an order event changes of a stored order (`MemberOrder` fields of the same names).
_ORDER_CHANGES = ("status", "benefits", "spend", "points_earned", "completed_at", "updated_at")
_SAVE_ORDER = update_by_key(MEMBER_ORDERS, "order_id", *_ORDER_CHANGES)
_COUNTED = (
    sa.select(MEMBER_ORDERS.c.order_id)
    .where(
        MEMBER_ORDERS.c.member_id == sa.bindparam("member_id"),
        MEMBER_ORDERS.c.status.in_([s.value for s in COUNTED_ORDERS]),
    )
    .limit(1)
)
_SPEND = sa.select(sa.func.coalesce(sa.func.sum(MEMBER_ORDERS.c.spend), 0)).where(
    MEMBER_ORDERS.c.member_id == sa.bindparam("member_id"),
    MEMBER_ORDERS.c.status == OrderStatus.COMPLETED.value,
    MEMBER_ORDERS.c.completed_at > sa.bindparam("since"),
)

_LOCK_COUPON = (
    sa.select(
        COUPONS.c.code,
        COUPONS.c.member_id,
        COUPONS.c.kind,
        COUPONS.c.amount_off,
        COUPONS.c.min_spend,
        COUPONS.c.valid_from,
        COUPONS.c.valid_until,
        COUPONS.c.first_order_only,
        COUPONS.c.status,
        COUPONS.c.order_id,
        COUPONS.c.currency,
    )
    .where(COUPONS.c.code == sa.bindparam("code"))
    .with_for_update()
)
_SAVE_COUPON = update_by_key(COUPONS, "code", "status", "order_id", "updated_at")

_ADD_LOT = sa.insert(LOTS)
_DUE_LOTS = sa.select(sa.func.coalesce(sa.func.sum(LOTS.c.points), 0)).where(
    LOTS.c.member_id == sa.bindparam("member_id"), LOTS.c.expires_at <= sa.bindparam("at")
)
# The hold's lock read also sums the member's lots due at the order's time (expiry runs before
# points are held): lots change only under the member's lock, so the sum stays true.
_LOCK_MEMBER_AND_DUE = _LOCK_MEMBER.add_columns(
    sa.select(sa.func.coalesce(sa.func.sum(LOTS.c.points), 0))
    .where(LOTS.c.member_id == MEMBERS.c.id, LOTS.c.expires_at <= sa.bindparam("at"))
    .scalar_subquery()
)
_SETTLE_LOTS = (
    sa.update(LOTS)
    .where(
        LOTS.c.member_id == sa.bindparam("b_member_id"),
        LOTS.c.expires_at <= sa.bindparam("b_at"),
        ~LOTS.c.settled,
    )
    .values(settled=True)
)


def _ledger_total(kinds: tuple[LedgerKind, ...]) -> sa.ColumnElement[Any]:
    """The sum of `delta` over the ledger rows of `kinds` (of the rows selected)."""
    values = [k.value for k in kinds]
    return sa.func.coalesce(
        sa.func.sum(sa.case((LEDGER.c.kind.in_(values), LEDGER.c.delta), else_=0)), 0
    )


EXPIRED_KINDS = (LedgerKind.EXPIRE,)
# Points used and points expired so far, for first-in-first-out expiry, in one read.
_USED_AND_EXPIRED = sa.select(_ledger_total(USING_KINDS), _ledger_total(EXPIRED_KINDS)).where(
    LEDGER.c.member_id == sa.bindparam("member_id")
)


@dataclass(slots=True)
class LockedMember:
    """The columns of a member the order events change, read under the row lock; changed in
    memory and written back once (`save_member`), with the ledger rows of the changes."""

    id: str
    points: Points
    tier: str
    tier_reviewed_at: datetime
    updated_at: datetime
    ledger: list[dict[str, Any]] = field(default_factory=list)  # not yet inserted
    changed: bool = False
    lots_due: tuple[datetime, int] | None = None  # (at, points of the lots due at `at`)

    def apply(self, step: tuple[Points, Change], at: datetime, order_id: str | None) -> Change:
        """A points change: the balances and the ledger row that records it."""
        after, change = step
        self.points, self.updated_at, self.changed = after, at, True
        self.ledger.append(
            {
                "member_id": self.id,
                "kind": change.kind.value,
                "delta": change.delta,
                "held_delta": change.held_delta,
                "balance_after": change.balance_after,
                "held_after": change.held_after,
                "order_id": order_id,
                "at": at,
            }
        )
        return change

    def pending_delta(self, kinds: tuple[LedgerKind, ...]) -> int:
        """The `delta` of the ledger rows of `kinds` not yet inserted."""
        values = {k.value for k in kinds}
        return sum(int(row["delta"]) for row in self.ledger if row["kind"] in values)


async def lock_member(
    conn: AsyncConnection, member_id: str, *, lots_due_at: datetime | None = None
) -> LockedMember | None:
    """The member's row, locked; with `lots_due_at`, also the points of their lots due then
    (`due_lot_points` at that time reads no more). On SQLite, whose FOR UPDATE locks nothing
    and whose driver begins a transaction only at its first write, the database's write lock
    is taken first: a job's read-then-write of the balance would otherwise write back what a
    hold committed meanwhile had changed."""
    await hold_write_lock(conn)
    if lots_due_at is None:
        row = (await conn.execute(_LOCK_MEMBER, {"member_id": member_id})).first()
    else:
        params = {"member_id": member_id, "at": lots_due_at}
        row = (await conn.execute(_LOCK_MEMBER_AND_DUE, params)).first()
    if row is None:
        return None
    member, balance, held, tier, reviewed_at, updated_at, *due = tuple(row)
    locked = LockedMember(member, Points(balance, held), tier, reviewed_at, updated_at)
    if lots_due_at is not None:
        locked.lots_due = (lots_due_at, int(due[0]))
    return locked


async def save_member(conn: AsyncConnection, member: LockedMember) -> None:
    """Write back what changed: one UPDATE of the member row, one INSERT of its ledger rows."""
    if member.changed:
        values = update_params(
            id=member.id,
            points_balance=member.points.balance,
            points_held=member.points.held,
            tier=member.tier,
            tier_reviewed_at=member.tier_reviewed_at,
            updated_at=member.updated_at,
        )
        await conn.execute(_SAVE_MEMBER, values)
        member.changed = False
    if member.ledger:
        await conn.execute(_ADD_LEDGER, member.ledger)
        member.ledger = []


@dataclass(slots=True)
class MemberOrder:
    """What membership keeps of an order (`member_orders`), read under its row lock or new;
    written back once by `save_order`."""

    order_id: str
    member_id: str
    status: str
    benefits: str
    currency: str
    coupon_code: str | None = None
    points: int = 0
    spend: int = 0
    points_earned: int = 0
    completed_at: datetime | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    stored: bool = False  # False: not in the table yet (INSERT), True: UPDATE

    @classmethod
    def new(cls, order_id: str, member_id: str, currency: str, at: datetime) -> MemberOrder:
        return cls(
            order_id,
            member_id,
            OrderStatus.PLACED.value,
            Benefits.NONE.value,
            currency,
            created_at=at,
            updated_at=at,
        )


async def lock_order(conn: AsyncConnection, order_id: str) -> MemberOrder | None:
    row = (await conn.execute(_LOCK_ORDER, {"order_id": order_id})).first()
    return None if row is None else MemberOrder(**row._asdict(), stored=True)


async def save_order(conn: AsyncConnection, order: MemberOrder) -> None:
    if order.stored:
        changes = {name: getattr(order, name) for name in _ORDER_CHANGES}
        await conn.execute(_SAVE_ORDER, update_params(order_id=order.order_id, **changes))
        return
    values = {column.name: getattr(order, column.name) for column in _ORDER_COLUMNS}
    await conn.execute(_ADD_ORDER, values)
    order.stored = True


async def has_counted_orders(conn: AsyncConnection, member_id: str) -> bool:
    """Whether the member has an order that makes the next one not their first."""
    return (await conn.execute(_COUNTED, {"member_id": member_id})).first() is not None


async def spend_in_window(
    conn: AsyncConnection, member_id: str, at: datetime, window_days: int
) -> int:
    """CNY minor units of the member's completed (and not refunded) orders in the window."""
    params = {"member_id": member_id, "since": at - timedelta(days=window_days)}
    return int((await conn.execute(_SPEND, params)).scalar_one())


async def lock_coupon(conn: AsyncConnection, code: str) -> Coupon | None:
    row = (await conn.execute(_LOCK_COUPON, {"code": code})).first()
    return None if row is None else coupon_of(row)


async def save_coupon(conn: AsyncConnection, coupon: Coupon, at: datetime) -> None:
    values = update_params(
        code=coupon.code, status=coupon.status.value, order_id=coupon.order_id, updated_at=at
    )
    await conn.execute(_SAVE_COUPON, values)


async def add_lot(conn: AsyncConnection, values: dict[str, Any]) -> None:
    await conn.execute(_ADD_LOT, values)


async def due_lot_points(conn: AsyncConnection, member: LockedMember, at: datetime) -> int:
    """Points of the member's lots whose expiry has passed at `at` (settled or not)."""
    if member.lots_due is not None and member.lots_due[0] == at:
        return member.lots_due[1]  # read with the lock
    return int((await conn.execute(_DUE_LOTS, {"member_id": member.id, "at": at})).scalar_one())


async def used_and_expired(conn: AsyncConnection, member_id: str) -> tuple[int, int]:
    """The sums of `delta` of the member's stored ledger rows of USING_KINDS and EXPIRE."""
    used, expired = (await conn.execute(_USED_AND_EXPIRED, {"member_id": member_id})).one()
    return int(used), int(expired)


async def settle_lots(conn: AsyncConnection, member_id: str, at: datetime) -> None:
    await conn.execute(_SETTLE_LOTS, {"b_member_id": member_id, "b_at": at})
