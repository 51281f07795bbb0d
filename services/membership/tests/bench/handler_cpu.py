"""CPU time per handled order event in the membership service, on PostgreSQL.

Runs N events of each kind through the chassis runner without a broker and prints the
process CPU time per event (`chassis.testing.handler_cpu`). Prints figures; asserts nothing.

    uv run --frozen python services/membership/tests/bench/handler_cpu.py [-n 500] [--batch 50]

The members (one per order, with points to spend and a coupon of their own) are inserted
before the phases; every phase's events find the state the one before left.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from chassis.outbox import OutboxRecord
from chassis.testing.events import record_of
from chassis.testing.handler_cpu import arguments, postgres_bench
from membership_service.adapters.signing import KeyRing, SigningKey
from membership_service.config import MIGRATIONS_DIR, MembershipSettings
from membership_service.deps import MembershipState
from membership_service.domain.coupons import new_code
from membership_service.handlers import CONSUMERS
from membership_service.tables import COUPONS, MEMBERS
from shared_events.money import Money
from shared_events.order import (
    OrderCancelledV1,
    OrderCompletedV1,
    OrderConfirmedV1,
    OrderPlacedV1,
    OrderRejectedV1,
)

SUBTOTAL = Money(amount=20_000, currency="CNY")
OUTBOX: sa.Table = OutboxRecord.__table__  # type: ignore[attr-defined]
POINTS = 500  # held by the orders that use points (every member has 10,000)


def member_row(member_id: str, at: datetime) -> dict[str, object]:
    return {
        "id": member_id,
        "email": f"{member_id}@example.com",
        "name": "Bench",
        "locale": "zh-CN",
        "role": "customer",
        "marketing_consent": False,
        "tier": "BRONZE",
        "tier_reviewed_at": at,
        "points_balance": 10_000,
        "points_held": 0,
        "created_at": at,
        "updated_at": at,
    }


def coupon_row(code: str, member_id: str, at: datetime) -> dict[str, object]:
    return {
        "code": code,
        "member_id": member_id,
        "kind": "SPEND_THRESHOLD",
        "amount_off": 1_000,
        "min_spend": 10_000,
        "currency": "CNY",
        "valid_from": at - timedelta(days=1),
        "valid_until": at + timedelta(days=30),
        "first_order_only": False,
        "status": "ACTIVE",
        "order_id": None,
        "issued_at": at,
        "updated_at": at,
    }


def placed(order_id: str, member_id: str, *, coupon: str | None, points: int) -> OrderPlacedV1:
    discount = Money(amount=(1_000 if coupon else 0) + points // 100 * 100, currency="CNY")
    return OrderPlacedV1(
        order_id=order_id,
        member_id=member_id,
        currency="CNY",
        items=[],
        subtotal=SUBTOTAL,
        discount=discount,
        total=Money(amount=SUBTOTAL.amount - discount.amount, currency="CNY"),
        coupon_code=coupon,
        points=points,
        placed_at=datetime.now(UTC),
    )


async def main(n: int, batch: int) -> None:
    settings = MembershipSettings()
    state = MembershipState(keyring=KeyRing(SigningKey.generate()))
    async with postgres_bench(
        settings, state, CONSUMERS, migrations=MIGRATIONS_DIR, batch=batch
    ) as bench:
        at = datetime.now(UTC)
        members = [str(uuid.uuid4()) for _ in range(3 * n)]
        codes = {m: new_code() for m in members}
        async with bench.runtime.database.transaction() as session:
            conn = await session.connection()
            await conn.execute(sa.insert(MEMBERS), [member_row(m, at) for m in members])
            await conn.execute(sa.insert(COUPONS), [coupon_row(codes[m], m, at) for m in members])
        plain, both, points_only = members[:n], members[n : 2 * n], members[2 * n :]
        order = {m: f"bench-{uuid.uuid4()}" for m in members}
        total = Money(amount=19_000, currency="CNY")
        phases = [
            (
                "placed (no benefits)",
                [placed(order[m], m, coupon=None, points=0) for m in plain],
            ),
            (
                "placed (coupon + points)",
                [placed(order[m], m, coupon=codes[m], points=POINTS) for m in both],
            ),
            (
                "placed (points)",
                [placed(order[m], m, coupon=None, points=POINTS) for m in points_only],
            ),
            (
                "confirmed (no benefits)",
                [OrderConfirmedV1(order_id=order[m], member_id=m, total=total) for m in plain],
            ),
            (
                "confirmed (redeem)",
                [OrderConfirmedV1(order_id=order[m], member_id=m, total=total) for m in both],
            ),
            (
                "rejected (release points)",
                [OrderRejectedV1(order_id=order[m], member_id=m, reason="X") for m in points_only],
            ),
            (
                "completed (earn, tier)",
                [OrderCompletedV1(order_id=order[m], member_id=m, total=total) for m in plain],
            ),
            (
                "cancelled (refund redeemed)",
                [
                    OrderCancelledV1(order_id=order[m], member_id=m, reason="R", was_confirmed=True)
                    for m in both
                ],
            ),
            (
                "cancelled (refund completed)",
                [
                    OrderCancelledV1(order_id=order[m], member_id=m, reason="R", was_confirmed=True)
                    for m in plain
                ],
            ),
        ]
        for label, payloads in phases:
            print(await bench.run(label, [record_of(p) for p in payloads]))
        # What the phases did, to compare runs of two versions of the handlers by.
        async with bench.runtime.database.sessions() as session:
            conn = await session.connection()
            staged = await conn.execute(
                sa.select(OUTBOX.c.event_type, sa.func.count())
                .group_by(OUTBOX.c.event_type)
                .order_by(OUTBOX.c.event_type)
            )
            print("staged:", ", ".join(f"{kind} {count}" for kind, count in staged))
            points = await conn.execute(
                sa.select(sa.func.sum(MEMBERS.c.points_balance), sa.func.sum(MEMBERS.c.points_held))
            )
            balance, held = points.one()
            print("points balance, held:", int(balance), int(held))


if __name__ == "__main__":
    args = arguments(__doc__, default_n=300)
    asyncio.run(main(args.n, args.batch))
