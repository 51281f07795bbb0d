"""The membership step of the order saga, one use case per order event, each in the handler's
transaction (the chassis commits the inbox row, the changes and the outbox rows together).

Idempotent by state as well as by the inbox: an order's row in `member_orders` says what was
held and what counted, and `domain.orders.benefit_step` only moves it forward. Every use case
locks the member row first, so one member's orders (keyed by order id, hence on several
partitions) change their points and coupons one at a time.

Rows are read and written with the Core statements of member_rows.py on the transaction's
connection: the member's balances and ledger rows are written once at the end, the order's row
before anything reads it back (the tier's spend).
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.consumer import Delivery
from chassis.db import as_utc
from chassis.logging import get_logger
from membership_service.deps import MembershipRuntime
from membership_service.domain.coupons import Coupon, normalise_code
from membership_service.domain.orders import (
    Action,
    Benefits,
    OrderStatus,
    RejectReason,
    RestoreReason,
    Trigger,
    benefit_step,
    can_complete,
    status_after,
)
from membership_service.domain.tiers import counted_spend
from membership_service.service import coupons, member_rows, points, tiers
from membership_service.service.member_rows import LockedMember, MemberOrder
from shared_events import membership as events
from shared_events.order import OrderCompletedV1, OrderPlacedV1

log = get_logger(__name__)

# The currency of an order known only by its cancellation (the event carries none).
UNKNOWN_CURRENCY = ""


async def _coupon_problem(
    conn: AsyncConnection, order: OrderPlacedV1, member: LockedMember
) -> tuple[Coupon | None, str | None]:
    """The order's coupon (locked) and why it cannot be held, if it cannot."""
    code = normalise_code(order.coupon_code or "")
    coupon = await member_rows.lock_coupon(conn, code) if code else None
    if coupon is None:
        return None, "no such coupon"
    # Whether it is the member's first order matters to a first-order coupon only.
    first_order = not coupon.first_order_only or not await member_rows.has_counted_orders(
        conn, member.id
    )
    problem = coupon.problem(
        member_id=member.id,
        currency=order.currency,
        subtotal=order.subtotal.amount,
        at=as_utc(order.placed_at),
        first_order=first_order,
    )
    return coupon, problem


async def _rejection(
    conn: AsyncConnection, order: OrderPlacedV1, member: LockedMember
) -> tuple[Coupon | None, RejectReason | None, str]:
    """The coupon to hold (locked), or why the benefits cannot be held."""
    coupon = None
    if order.coupon_code:
        coupon, problem = await _coupon_problem(conn, order, member)
        if problem is not None:
            return None, RejectReason.COUPON_INVALID, problem
    if order.points and not member.points.can_hold(order.points):
        return None, RejectReason.INSUFFICIENT_POINTS, "not enough points"
    return coupon, None, ""


async def _reject(
    delivery: Delivery[MembershipRuntime],
    conn: AsyncConnection,
    row: MemberOrder,
    reason: RejectReason,
    detail: str,
) -> None:
    row.benefits = Benefits.REJECTED.value
    await member_rows.save_order(conn, row)
    delivery.stage(
        events.BenefitsRejectedV1(
            order_id=row.order_id, member_id=row.member_id, reason=reason.value
        ),
        subject=row.order_id,
    )
    log.info("benefits rejected", order_id=row.order_id, reason=reason.value, detail=detail)


async def hold_benefits(delivery: Delivery[MembershipRuntime], order: OrderPlacedV1) -> Benefits:
    """`order.order.placed` with a coupon or points: hold both, or neither, and answer
    `membership.benefits.held` or `.rejected`. Without either: nothing (nobody waits)."""
    if not order.coupon_code and order.points == 0:
        return Benefits.NONE
    conn, at = await delivery.session.connection(), datetime.now(UTC)
    member = await member_rows.lock_member(conn, order.member_id, lots_due_at=at)
    existing = await member_rows.lock_order(conn, order.order_id)
    if existing is not None:
        return Benefits(existing.benefits)  # answered already
    row = MemberOrder.new(order.order_id, order.member_id, order.currency, at)
    if member is None:
        unknown = RejectReason.COUPON_INVALID if order.coupon_code else None
        await _reject(
            delivery, conn, row, unknown or RejectReason.INSUFFICIENT_POINTS, "unknown member"
        )
        return Benefits.REJECTED
    await points.expire_due(conn, delivery.stage, member, at)  # even if the job is late
    coupon, reason, detail = await _rejection(conn, order, member)
    if reason is not None:
        await member_rows.save_member(conn, member)  # what expired
        await _reject(delivery, conn, row, reason, detail)
        return Benefits.REJECTED
    if coupon is not None:
        await member_rows.save_coupon(conn, coupon.hold(order.order_id), at)
        row.coupon_code = coupon.code
    if order.points:
        change = member.apply(member.points.hold(order.points), at, order.order_id)
        row.points = order.points
        delivery.stage(
            events.PointsHeldV1(
                order_id=order.order_id,
                member_id=member.id,
                points=order.points,
                balance=change.balance_after,
            ),
            subject=order.order_id,
        )
    row.benefits = Benefits.HELD.value
    await member_rows.save_member(conn, member)
    await member_rows.save_order(conn, row)
    delivery.stage(
        events.BenefitsHeldV1(
            order_id=order.order_id,
            member_id=member.id,
            coupon_code=row.coupon_code,
            points=row.points,
        ),
        subject=order.order_id,
    )
    log.info("benefits held", order_id=order.order_id, points=row.points)
    return Benefits.HELD


async def _redeem(
    delivery: Delivery[MembershipRuntime],
    conn: AsyncConnection,
    member: LockedMember,
    row: MemberOrder,
    at: datetime,
) -> None:
    if row.coupon_code:
        coupon = await member_rows.lock_coupon(conn, row.coupon_code)
        if coupon is not None and coupon.held_by(row.order_id):
            redeemed = coupon.redeem(row.order_id)
            await member_rows.save_coupon(conn, redeemed, at)
            coupons.stage_redeemed(delivery.stage, redeemed, row.order_id)
    if row.points:
        change = member.apply(member.points.redeem(row.points), at, row.order_id)
        delivery.stage(
            events.PointsRedeemedV1(
                order_id=row.order_id,
                member_id=member.id,
                points=row.points,
                balance=change.balance_after,
            ),
            subject=row.order_id,
        )


async def _restore(
    delivery: Delivery[MembershipRuntime],
    conn: AsyncConnection,
    member: LockedMember,
    row: MemberOrder,
    reason: RestoreReason,
    at: datetime,
) -> None:
    was_redeemed = row.benefits == Benefits.REDEEMED.value
    if row.coupon_code:
        coupon, order_id = await member_rows.lock_coupon(conn, row.coupon_code), row.order_id
        if coupon is not None and (coupon.held_by(order_id) or coupon.redeemed_by(order_id)):
            restored = coupon.restore(order_id)
            await member_rows.save_coupon(conn, restored, at)
            coupons.stage_restored(delivery.stage, restored, order_id, reason.value)
    if row.points:
        current = member.points
        step = current.refund(row.points) if was_redeemed else current.release(row.points)
        change = member.apply(step, at, row.order_id)
        delivery.stage(
            events.PointsRestoredV1(
                order_id=row.order_id,
                member_id=member.id,
                points=row.points,
                balance=change.balance_after,
                reason=reason.value,
            ),
            subject=row.order_id,
        )
        # Points given back to a lot that is already past its age expire at once.
        await points.expire_due(conn, delivery.stage, member, at)


def _refund_completion(member: LockedMember, row: MemberOrder, at: datetime) -> None:
    """A completed order refunded: its spend leaves the tier, its earned points go back (the
    caller recomputes the tier once the order's row is written)."""
    row.spend = 0
    if row.points_earned:
        step = member.points.revoke(row.points_earned)
        if step is not None:
            member.apply(step, at, row.order_id)


async def settle_benefits(
    delivery: Delivery[MembershipRuntime],
    *,
    order_id: str,
    member_id: str,
    trigger: Trigger,
    currency: str | None = None,
) -> None:
    """`order.order.confirmed` (redeem), `.rejected` and `.cancelled` (restore; a cancelled
    confirmed order also gives back its spend and earned points if it had completed)."""
    conn, at = await delivery.session.connection(), datetime.now(UTC)
    member = await member_rows.lock_member(conn, member_id)
    if member is None:
        return  # not one of our members (a development token): nothing to hold or count
    row = await member_rows.lock_order(conn, order_id)
    if row is None:
        if trigger is Trigger.CANCELLED:
            # Cancelled before its `placed` reached us (the relay sent it late after a replica
            # died between commit and send): the order's row, final, makes the late `placed`
            # hold nothing. Any other outcome answers the saga, so `placed` came first.
            row = MemberOrder.new(order_id, member_id, UNKNOWN_CURRENCY, at)
        elif trigger is not Trigger.CONFIRMED or currency is None:
            return  # an order without benefits that never counted: nothing to undo
        else:
            row = MemberOrder.new(order_id, member_id, currency, at)
    step = benefit_step(Benefits(row.benefits), trigger)
    if step is not None:
        benefits_after, action, reason = step
        if action is Action.REDEEM:
            await _redeem(delivery, conn, member, row, at)
        elif reason is not None:
            await _restore(delivery, conn, member, row, reason, at)
        row.benefits = benefits_after.value
    status = OrderStatus(row.status)
    refunds_completion = trigger is Trigger.REFUNDED and status is OrderStatus.COMPLETED
    if refunds_completion:
        _refund_completion(member, row, at)
    row.status, row.updated_at = status_after(status, trigger).value, at
    await member_rows.save_order(conn, row)
    if refunds_completion:
        await tiers.recompute(conn, delivery.stage, member, delivery.runtime.settings, at)
    await member_rows.save_member(conn, member)


async def complete_order(delivery: Delivery[MembershipRuntime], order: OrderCompletedV1) -> None:
    """`order.order.completed`: earn points on the total, count the spend, recompute the tier.
    Once per order (its status, and a unique lot per order)."""
    conn, at = await delivery.session.connection(), datetime.now(UTC)
    member = await member_rows.lock_member(conn, order.member_id)
    if member is None:
        return
    row = await member_rows.lock_order(conn, order.order_id)
    if row is None:
        row = MemberOrder.new(order.order_id, order.member_id, order.total.currency, at)
    if not can_complete(OrderStatus(row.status)):
        return
    settings = delivery.runtime.settings
    rules = points.rules_of(settings)
    earned = rules.earned(order.total.amount, order.total.currency)
    row.status, row.completed_at, row.updated_at = OrderStatus.COMPLETED.value, at, at
    row.spend = counted_spend(order.total.amount, order.total.currency)
    row.points_earned = earned
    await member_rows.save_order(conn, row)  # before the tier reads the spend
    if earned:
        change = await points.earn(
            conn, member, earned, order_id=order.order_id, at=at, rules=rules
        )
        delivery.stage(
            events.PointsEarnedV1(
                member_id=member.id,
                order_id=order.order_id,
                points=earned,
                balance=change.balance_after,
            ),
            subject=member.id,
        )
    await tiers.recompute(conn, delivery.stage, member, settings, at)
    await member_rows.save_member(conn, member)
    log.info("order completed", order_id=order.order_id, points=earned)
