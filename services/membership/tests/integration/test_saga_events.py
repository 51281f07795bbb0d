"""Order events on `order.events` drive the membership step of the saga; the answers come
back on `membership.events`. Real PostgreSQL and a real Kafka-protocol broker: events go in
through a producer, as the order service's relay sends them, and are read back from the topic.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from membership_service.tables import LOTS, MEMBER_ORDERS, PointsLedgerRow
from shared_events import Envelope, registry
from shared_events.order import (
    OrderCancelledV1,
    OrderCompletedV1,
    OrderConfirmedV1,
    OrderRejectedV1,
)

from .conftest import Membership, Starter, assert_valid, cny, new_order_id

pytestmark = pytest.mark.integration

HELD = "membership.benefits.held"
REJECTED = "membership.benefits.rejected"
POINTS_HELD = "membership.points.held"
EARNED = "membership.points.earned"


def types(envelopes: list[Envelope]) -> list[str]:
    return [e.type for e in envelopes]


async def member_with_points(
    membership: Membership, total: int = 50_000
) -> tuple[dict[str, Any], str, dict[str, str]]:
    """A registered member who completed one order of `total` (so holds total/100 points and
    has had a first order); returns the member, a token and their coupon codes by kind."""
    member, token = await membership.member_token()
    order_id = new_order_id()
    await membership.send(
        OrderConfirmedV1(order_id=order_id, member_id=member["id"], total=cny(total)),
        order_id=order_id,
    )
    await membership.send(
        OrderCompletedV1(order_id=order_id, member_id=member["id"], total=cny(total)),
        order_id=order_id,
    )
    await membership.events_until(member["id"], EARNED)
    me = await membership.me(token)
    return member, token, {c["kind"]: c["code"] for c in me["coupons"]}


async def test_held_then_redeemed_then_refunded(membership: Membership) -> None:
    member, token, codes = await member_with_points(membership)
    assert (await membership.me(token))["points_balance"] == 500
    order_id, placed = await membership.place(
        member["id"], coupon=codes["WELCOME_GIFT"], points=200
    )
    events = await membership.events_until(order_id, HELD)
    assert types(events) == [POINTS_HELD, HELD]
    held = events[-1]
    assert held.data == {
        "order_id": order_id,
        "member_id": member["id"],
        "coupon_code": codes["WELCOME_GIFT"],
        "points": 200,
    }
    assert (held.subject, held.correlationid, held.causationid) == (
        order_id,
        order_id,
        str(placed.id),
    )
    assert events[0].data["balance"] == 300
    me = await membership.me(token)
    assert (me["points_balance"], me["points_held"]) == (300, 200)
    assert {c["code"]: c["status"] for c in me["coupons"]}[codes["WELCOME_GIFT"]] == "HELD"

    await membership.send(
        OrderConfirmedV1(order_id=order_id, member_id=member["id"], total=cny(18_000)),
        order_id=order_id,
    )
    events = await membership.events_until(order_id, "membership.points.redeemed")
    assert types(events)[2:] == ["membership.coupon.redeemed", "membership.points.redeemed"]
    me = await membership.me(token)
    assert (me["points_balance"], me["points_held"]) == (300, 0)
    assert {c["code"]: c["status"] for c in me["coupons"]}[codes["WELCOME_GIFT"]] == "REDEEMED"

    await membership.send(
        OrderCancelledV1(
            order_id=order_id,
            member_id=member["id"],
            reason="CANCELLED_BY_CUSTOMER",
            was_confirmed=True,
        ),
        order_id=order_id,
    )
    events = await membership.events_until(order_id, "membership.points.restored")
    assert types(events)[4:] == ["membership.coupon.restored", "membership.points.restored"]
    assert {e.data["reason"] for e in events[4:]} == {"ORDER_REFUNDED"}
    for envelope in events:
        assert_valid(envelope)
    me = await membership.me(token)
    assert (me["points_balance"], me["points_held"]) == (500, 0)
    assert {c["code"]: c["status"] for c in me["coupons"]}[codes["WELCOME_GIFT"]] == "ACTIVE"


async def test_a_rejected_order_gives_everything_back(membership: Membership) -> None:
    member, token, codes = await member_with_points(membership, total=30_000)
    coupon = codes["WELCOME_GIFT"]
    order_id, _ = await membership.place(member["id"], coupon=coupon, points=300)
    await membership.events_until(order_id, HELD)
    await membership.send(
        OrderRejectedV1(order_id=order_id, member_id=member["id"], reason="OUT_OF_STOCK"),
        order_id=order_id,
    )
    events = await membership.events_until(order_id, "membership.points.restored")
    assert types(events) == [
        POINTS_HELD,
        HELD,
        "membership.coupon.restored",
        "membership.points.restored",
    ]
    assert events[-1].data["reason"] == "ORDER_REJECTED" and events[-1].data["balance"] == 300
    me = await membership.me(token)
    assert (me["points_balance"], me["points_held"]) == (300, 0)
    assert {c["code"]: c["status"] for c in me["coupons"]}[coupon] == "ACTIVE"

    # The coupon and the points are usable again.
    again, _ = await membership.place(member["id"], coupon=coupon, points=300)
    assert types(await membership.events_until(again, HELD)) == [POINTS_HELD, HELD]


async def test_an_order_cancelled_before_its_placed_event_arrives_holds_nothing(
    membership: Membership,
) -> None:
    # The order service's relay sent `placed` late (a replica died between commit and send)
    # while another replica had already cancelled the order.
    member, token, codes = await member_with_points(membership, total=30_000)
    coupon, order_id = codes["WELCOME_GIFT"], new_order_id()
    cancel = OrderCancelledV1(
        order_id=order_id, member_id=member["id"], reason="TIMEOUT", was_confirmed=False
    )
    await membership.handled(await membership.send(cancel, order_id=order_id))
    _, placed = await membership.place(member["id"], coupon=coupon, points=300, order_id=order_id)
    await membership.handled(placed)

    assert await membership.staged(order_id) == []  # nothing held, nobody waits for an answer
    me = await membership.me(token)
    assert (me["points_balance"], me["points_held"]) == (300, 0)
    assert {c["code"]: c["status"] for c in me["coupons"]}[coupon] == "ACTIVE"
    # The coupon and the points are there for the member's next order.
    again, _ = await membership.place(member["id"], coupon=coupon, points=300)
    assert types(await membership.events_until(again, HELD)) == [POINTS_HELD, HELD]


async def test_invalid_benefits_are_rejected_and_nothing_is_held(membership: Membership) -> None:
    member, token, codes = await member_with_points(membership, total=10_000)
    other, _ = await membership.member_token()
    cases: list[tuple[dict[str, Any], str]] = [
        ({"points": 101}, "INSUFFICIENT_POINTS"),
        ({"coupon": "ZZZZ-ZZZZ-ZZZZ"}, "COUPON_INVALID"),
        ({"coupon": codes["WELCOME_GIFT"], "subtotal": 4_999}, "COUPON_INVALID"),
        ({"coupon": codes["FIRST_ORDER"]}, "COUPON_INVALID"),  # they ordered before
        ({"coupon": codes["WELCOME_GIFT"], "points": 1_000}, "INSUFFICIENT_POINTS"),
    ]
    for benefits, reason in cases:
        order_id, _ = await membership.place(member["id"], **benefits)
        [rejected] = await membership.events_until(order_id, REJECTED)
        assert rejected.data == {
            "order_id": order_id,
            "member_id": member["id"],
            "reason": reason,
        }, benefits
        assert_valid(rejected)
    stolen, _ = await membership.place(other["id"], coupon=codes["WELCOME_GIFT"])
    assert (await membership.events_until(stolen, REJECTED))[0].data["reason"] == "COUPON_INVALID"

    me = await membership.me(token)
    assert (me["points_balance"], me["points_held"]) == (100, 0)
    assert all(c["status"] == "ACTIVE" for c in me["coupons"])

    # Without coupon or points the order service does not wait: nothing is published.
    plain, placed = await membership.place(member["id"])
    await membership.handled(placed)
    assert await membership.staged(plain) == []


async def test_completed_orders_earn_points_and_move_the_tier(membership: Membership) -> None:
    member, token = await membership.member_token()
    order_id = new_order_id()
    await membership.send(
        OrderCompletedV1(order_id=order_id, member_id=member["id"], total=cny(123_456)),
        order_id=order_id,
    )
    events = await membership.events_until(member["id"], "membership.tier.changed")
    earned = next(e for e in events if e.type == EARNED)
    assert earned.data == {
        "member_id": member["id"],
        "order_id": order_id,
        "points": 1_234,  # 1,234.56 CNY: floor
        "balance": 1_234,
    }
    tier = events[-1]
    assert tier.data == {
        "member_id": member["id"],
        "old_tier": "BRONZE",
        "new_tier": "SILVER",
        "discount_percent": 2,
        "spend_12m": {"amount": 123_456, "currency": "CNY"},
    }
    assert tier.subject == member["id"]
    for envelope in events:
        assert_valid(envelope)
    me = await membership.me(token)
    assert (me["tier"], me["tier_discount_percent"], me["points_balance"]) == ("SILVER", 2, 1_234)
    assert me["points_value"] == {"amount": 1_234, "currency": "CNY"}
    assert me["spend_12m"] == {"amount": 123_456, "currency": "CNY"}


async def test_duplicated_events_have_their_effect_once(membership: Membership) -> None:
    member, token, codes = await member_with_points(membership, total=40_000)
    order_id = new_order_id()
    _, first = await membership.place(
        member["id"], coupon=codes["WELCOME_GIFT"], points=100, order_id=order_id
    )
    await membership.send(  # redelivered: the same envelope id
        registry.parse(first, 1), order_id=order_id, event_id=first.id
    )
    await membership.place(  # the same fact in another envelope
        member["id"], coupon=codes["WELCOME_GIFT"], points=100, order_id=order_id
    )
    confirmed = OrderConfirmedV1(order_id=order_id, member_id=member["id"], total=cny(30_000))
    completed = OrderCompletedV1(order_id=order_id, member_id=member["id"], total=cny(30_000))
    for payload in (confirmed, confirmed, completed, completed):
        last = await membership.send(payload, order_id=order_id)
    await membership.handled(last)
    assert await membership.staged(order_id) == [
        POINTS_HELD,
        HELD,
        "membership.coupon.redeemed",
        "membership.points.redeemed",
    ]
    assert (await membership.staged(member["id"])).count(EARNED) == 2
    me = await membership.me(token)
    assert (me["points_balance"], me["points_held"]) == (400 - 100 + 300, 0)
    async with membership.runtime.database.sessions() as session:
        kinds = (
            await session.exec(
                select(PointsLedgerRow.kind)
                .where(PointsLedgerRow.member_id == member["id"])
                .order_by(col(PointsLedgerRow.id))
            )
        ).all()
    assert kinds == ["EARN", "HOLD", "REDEEM", "EARN"]


async def test_the_expiry_job_expires_old_points(start_membership: Starter) -> None:
    async with start_membership(points_expiry_check_seconds=0.2) as membership:
        member, token, _ = await member_with_points(membership, total=25_000)
        async with membership.runtime.database.transaction() as session:
            await session.exec(
                sa.update(LOTS)
                .where(LOTS.c.member_id == member["id"])
                .values(expires_at=datetime.now(UTC) - timedelta(minutes=1))
            )
        events = await membership.events_until(member["id"], "membership.points.expired")
        assert events[-1].data == {"member_id": member["id"], "points": 250, "balance": 0}
        assert_valid(events[-1])
        assert (await membership.me(token))["points_balance"] == 0


async def test_the_tier_job_lowers_a_tier_whose_spend_left_the_window(
    start_membership: Starter,
) -> None:
    async with start_membership(
        tier_review_check_seconds=0.2, tier_review_after_seconds=1
    ) as membership:
        member, token = await membership.member_token()
        order_id = new_order_id()
        await membership.send(
            OrderCompletedV1(order_id=order_id, member_id=member["id"], total=cny(600_000)),
            order_id=order_id,
        )
        await membership.events_until(member["id"], "membership.tier.changed")
        assert (await membership.me(token))["tier"] == "GOLD"
        async with membership.runtime.database.transaction() as session:
            await session.exec(
                sa.update(MEMBER_ORDERS)
                .where(MEMBER_ORDERS.c.order_id == order_id)
                .values(completed_at=datetime.now(UTC) - timedelta(days=366))
            )
        events = await membership.events_until(member["id"], "membership.tier.changed", count=2)
        assert (events[-1].data["old_tier"], events[-1].data["new_tier"]) == ("GOLD", "BRONZE")
        assert events[-1].data["spend_12m"] == {"amount": 0, "currency": "CNY"}
        me = await membership.me(token)
        assert (me["tier"], me["tier_discount_percent"]) == ("BRONZE", 0)
