"""The membership step of the order saga, one use case per order event, each in the handler's
transaction (the chassis commits the inbox row, the changes and the outbox rows together).

Idempotent by state as well as by the inbox: an order's row in `member_orders` says what was
held and what counted, and `domain.orders.benefit_step` only moves it forward. Every use case
locks the member row first, so one member's orders (keyed by order id, hence on several
partitions) change their points and coupons one at a time.
"""

from __future__ import annotations

from datetime import UTC, datetime

from chassis.consumer import Delivery
from chassis.logging import get_logger
from membership_service.deps import MembershipRuntime
from membership_service.domain.coupons import normalise_code
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
from membership_service.service import coupons, points, queries, tiers
from membership_service.service.points import points_of
from membership_service.tables import CouponRow, MemberOrderRow, MemberRow
from shared_events import membership as events
from shared_events.order import OrderCompletedV1, OrderPlacedV1

log = get_logger(__name__)


def _order_row(order_id: str, member_id: str, currency: str, at: datetime) -> MemberOrderRow:
    return MemberOrderRow(
        order_id=order_id,
        member_id=member_id,
        status=OrderStatus.PLACED.value,
        benefits=Benefits.NONE.value,
        currency=currency,
        created_at=at,
        updated_at=at,
    )


async def _coupon_problem(
    delivery: Delivery[MembershipRuntime], order: OrderPlacedV1, member: MemberRow
) -> tuple[CouponRow | None, str | None]:
    """The order's coupon (locked) and why it cannot be held, if it cannot."""
    code = normalise_code(order.coupon_code or "")
    row = await queries.coupon(delivery.session, code, lock=True) if code else None
    if row is None:
        return None, "no such coupon"
    first_order = not await queries.has_counted_orders(delivery.session, member.id)
    problem = coupons.coupon_of(row).problem(
        member_id=member.id,
        currency=order.currency,
        subtotal=order.subtotal.amount,
        at=queries.utc(order.placed_at),
        first_order=first_order,
    )
    return row, problem


async def _rejection(
    delivery: Delivery[MembershipRuntime], order: OrderPlacedV1, member: MemberRow
) -> tuple[CouponRow | None, RejectReason | None, str]:
    """The coupon to hold (locked), or why the benefits cannot be held."""
    coupon = None
    if order.coupon_code:
        coupon, problem = await _coupon_problem(delivery, order, member)
        if problem is not None:
            return None, RejectReason.COUPON_INVALID, problem
    if order.points and not points_of(member).can_hold(order.points):
        return None, RejectReason.INSUFFICIENT_POINTS, "not enough points"
    return coupon, None, ""


def _reject(
    delivery: Delivery[MembershipRuntime], row: MemberOrderRow, reason: RejectReason, detail: str
) -> None:
    row.benefits = Benefits.REJECTED.value
    delivery.session.add(row)
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
    session, at = delivery.session, datetime.now(UTC)
    member = await queries.member(session, order.member_id, lock=True)
    existing = await queries.member_order(session, order.order_id, lock=True)
    if existing is not None:
        return Benefits(existing.benefits)  # answered already
    row = _order_row(order.order_id, order.member_id, order.currency, at)
    if member is None:
        unknown = RejectReason.COUPON_INVALID if order.coupon_code else None
        _reject(delivery, row, unknown or RejectReason.INSUFFICIENT_POINTS, "unknown member")
        return Benefits.REJECTED
    await points.expire_due(session, delivery.stage, member, at)  # even if the job is late
    coupon, reason, detail = await _rejection(delivery, order, member)
    if reason is not None:
        _reject(delivery, row, reason, detail)
        return Benefits.REJECTED
    if coupon is not None:
        coupons.save(session, coupon, coupons.coupon_of(coupon).hold(order.order_id), at)
        row.coupon_code = coupon.code
    if order.points:
        change = points.apply(
            session, member, points_of(member).hold(order.points), at, order.order_id
        )
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
    session.add(row)
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
    delivery: Delivery[MembershipRuntime], member: MemberRow, row: MemberOrderRow, at: datetime
) -> None:
    if row.coupon_code:
        coupon_row = await queries.coupon(delivery.session, row.coupon_code, lock=True)
        if coupon_row is not None and coupons.coupon_of(coupon_row).held_by(row.order_id):
            redeemed = coupons.coupon_of(coupon_row).redeem(row.order_id)
            coupons.save(delivery.session, coupon_row, redeemed, at)
            coupons.stage_redeemed(delivery.stage, redeemed, row.order_id)
    if row.points:
        change = points.apply(
            delivery.session, member, points_of(member).redeem(row.points), at, row.order_id
        )
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
    member: MemberRow,
    row: MemberOrderRow,
    reason: RestoreReason,
    at: datetime,
) -> None:
    was_redeemed = row.benefits == Benefits.REDEEMED.value
    if row.coupon_code:
        coupon_row = await queries.coupon(delivery.session, row.coupon_code, lock=True)
        if coupon_row is not None:
            coupon = coupons.coupon_of(coupon_row)
            if coupon.held_by(row.order_id) or coupon.redeemed_by(row.order_id):
                restored = coupon.restore(row.order_id)
                coupons.save(delivery.session, coupon_row, restored, at)
                coupons.stage_restored(delivery.stage, restored, row.order_id, reason.value)
    if row.points:
        current = points_of(member)
        step = current.refund(row.points) if was_redeemed else current.release(row.points)
        change = points.apply(delivery.session, member, step, at, row.order_id)
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
        await points.expire_due(delivery.session, delivery.stage, member, at)


async def _refund_completion(
    delivery: Delivery[MembershipRuntime],
    member: MemberRow,
    row: MemberOrderRow,
    at: datetime,
) -> None:
    """A completed order refunded: its spend leaves the tier, its earned points go back."""
    row.spend = 0
    if row.points_earned:
        step = points_of(member).revoke(row.points_earned)
        if step is not None:
            points.apply(delivery.session, member, step, at, row.order_id)
    delivery.session.add(row)
    await tiers.recompute(delivery.session, delivery.stage, member, delivery.runtime.settings, at)


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
    session, at = delivery.session, datetime.now(UTC)
    member = await queries.member(session, member_id, lock=True)
    if member is None:
        return  # not one of our members (a development token): nothing to hold or count
    row = await queries.member_order(session, order_id, lock=True)
    if row is None:
        if trigger is not Trigger.CONFIRMED or currency is None:
            return  # an order without benefits that never counted: nothing to undo
        row = _order_row(order_id, member_id, currency, at)
    step = benefit_step(Benefits(row.benefits), trigger)
    if step is not None:
        benefits_after, action, reason = step
        if action is Action.REDEEM:
            await _redeem(delivery, member, row, at)
        elif reason is not None:
            await _restore(delivery, member, row, reason, at)
        row.benefits = benefits_after.value
    status = OrderStatus(row.status)
    if trigger is Trigger.REFUNDED and status is OrderStatus.COMPLETED:
        await _refund_completion(delivery, member, row, at)
    row.status, row.updated_at = status_after(status, trigger).value, at
    session.add(row)


async def complete_order(delivery: Delivery[MembershipRuntime], order: OrderCompletedV1) -> None:
    """`order.order.completed`: earn points on the total, count the spend, recompute the tier.
    Once per order (its status, and a unique lot per order)."""
    session, at = delivery.session, datetime.now(UTC)
    member = await queries.member(session, order.member_id, lock=True)
    if member is None:
        return
    row = await queries.member_order(session, order.order_id, lock=True)
    if row is None:
        row = _order_row(order.order_id, order.member_id, order.total.currency, at)
    if not can_complete(OrderStatus(row.status)):
        return
    settings = delivery.runtime.settings
    rules = points.rules_of(settings)
    earned = rules.earned(order.total.amount, order.total.currency)
    row.status, row.completed_at, row.updated_at = OrderStatus.COMPLETED.value, at, at
    row.spend = counted_spend(order.total.amount, order.total.currency)
    row.points_earned = earned
    session.add(row)
    if earned:
        change = points.earn(session, member, earned, order_id=order.order_id, at=at, rules=rules)
        delivery.stage(
            events.PointsEarnedV1(
                member_id=member.id,
                order_id=order.order_id,
                points=earned,
                balance=change.balance_after,
            ),
            subject=member.id,
        )
    await tiers.recompute(session, delivery.stage, member, settings, at)
    log.info("order completed", order_id=order.order_id, points=earned)
