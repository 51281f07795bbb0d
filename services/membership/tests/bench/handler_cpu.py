"""CPU time per handled order event in the membership service, on PostgreSQL: orders placed
with and without benefits, confirmed, rejected, completed and cancelled.

    uv run --frozen python services/membership/tests/bench/handler_cpu.py [-n 500] [--batch 50]

The members (one per order, with points to spend and a coupon of their own) are inserted
before the phases; every phase's events find the state the one before left.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from chassis.outbox import OutboxRecord
from chassis.testing.handler_cpu import postgres_bench, run_script
from chassis.testing.orders import (
    money,
    order_cancelled,
    order_confirmed,
    order_placed,
    order_rejected,
)
from membership_service.adapters.signing import KeyRing, SigningKey
from membership_service.config import MIGRATIONS_DIR, MembershipSettings
from membership_service.deps import MembershipState
from membership_service.domain.coupons import new_code
from membership_service.handlers import CONSUMERS
from membership_service.tables import COUPONS, MEMBERS
from shared_events.order import OrderCompletedV1, OrderPlacedV1

SUBTOTAL = 20_000
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
    return order_placed(
        order_id,
        member_id=member_id,
        subtotal=SUBTOTAL,
        discount=(1_000 if coupon else 0) + points // 100 * 100,
        coupon_code=coupon,
        points=points,
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
        total = 19_000
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
                [order_confirmed(order[m], member_id=m, total=total) for m in plain],
            ),
            (
                "confirmed (redeem)",
                [order_confirmed(order[m], member_id=m, total=total) for m in both],
            ),
            (
                "rejected (release points)",
                [order_rejected(order[m], member_id=m) for m in points_only],
            ),
            (
                "completed (earn, tier)",
                [
                    OrderCompletedV1(order_id=order[m], member_id=m, total=money(total))
                    for m in plain
                ],
            ),
            (
                "cancelled (refund redeemed)",
                [order_cancelled(order[m], member_id=m) for m in both],
            ),
            (
                "cancelled (refund completed)",
                [order_cancelled(order[m], member_id=m) for m in plain],
            ),
        ]
        await bench.run_phases(phases)
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
    run_script(__doc__, main, default_n=300)
