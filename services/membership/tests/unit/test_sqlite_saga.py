"""The membership step of the saga on SQLite (the development default), through the chassis
consumer path (envelope -> inbox -> handler -> outbox, one transaction) without a broker."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from chassis.cache import create_redis
from chassis.consumer import ConsumerRunner
from chassis.db import Database, as_utc
from chassis.migrations import upgrade_async
from chassis.outbox import Outbox, OutboxRecord
from chassis.producer import EventProducer
from chassis.runtime import assemble_runtime
from chassis.testing.pauses import pause_statement
from membership_service.adapters.signing import KeyRing, SigningKey
from membership_service.config import MIGRATIONS_DIR, MembershipSettings
from membership_service.deps import MembershipState
from membership_service.domain.coupons import CouponKind
from membership_service.handlers import CONSUMERS
from membership_service.service import coupons
from membership_service.service.member_jobs import each_member
from membership_service.service.tiers import review_tiers
from membership_service.tables import LOTS, MEMBERS, MemberRow, PointsLedgerRow
from shared_events import Envelope, EventPayload, registry, to_kafka
from shared_events.money import Money
from shared_events.order import (
    OrderCancelledV1,
    OrderCompletedV1,
    OrderConfirmedV1,
    OrderPlacedV1,
    OrderRejectedV1,
)
from shared_events.topics import ORDER_EVENTS

OUTBOX = Outbox("/services/membership")


@dataclass
class Record:
    """What ConsumerRunner reads of a Kafka record."""

    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    topic: str = ORDER_EVENTS
    partition: int = 0
    offset: int = 0


def cny(amount: int) -> Money:
    return Money(amount=amount, currency="CNY")


@dataclass
class Harness:
    database: Database
    runner: ConsumerRunner
    outcomes: list[str] = field(default_factory=list)

    async def deliver(
        self, payload: EventPayload, order_id: str, event_id: uuid.UUID | None = None
    ) -> Envelope:
        envelope = registry.envelope(
            payload,
            subject=order_id,
            source="/services/order",
            id=event_id or uuid.uuid4(),
        )
        record = to_kafka(envelope)
        self.outcomes.append(
            await self.runner.handle(Record(record.key, record.value, record.headers))
        )
        return envelope

    async def published(self, subject: str) -> list[tuple[str, dict[str, Any]]]:
        async with self.database.sessions() as session:
            rows = await session.exec(
                select(OutboxRecord)
                .where(OutboxRecord.subject == subject)
                .order_by(col(OutboxRecord.id))
            )
            return [(r.event_type, json.loads(r.data)) for r in rows]

    async def member(self, member_id: str) -> MemberRow:
        async with self.database.sessions() as session:
            row = await session.get(MemberRow, member_id)
        assert row is not None
        return row

    async def ledger(self, member_id: str) -> Sequence[PointsLedgerRow]:
        async with self.database.sessions() as session:
            rows = await session.exec(
                select(PointsLedgerRow)
                .where(PointsLedgerRow.member_id == member_id)
                .order_by(col(PointsLedgerRow.id))
            )
            return rows.all()

    async def new_member(self) -> tuple[str, dict[CouponKind, str]]:
        """A member as registration leaves them: BRONZE, no points, the two coupons."""
        member_id, at = str(uuid.uuid4()), datetime.now(UTC)
        async with self.database.transaction() as session:
            session.add(
                MemberRow(
                    id=member_id,
                    email=f"{member_id}@example.com",
                    name="Li Lei",
                    locale="zh-CN",
                    role="customer",
                    tier="BRONZE",
                    tier_reviewed_at=at,
                    created_at=at,
                    updated_at=at,
                )
            )
            await session.flush()
            stage = partial(OUTBOX.stage, session)
            issued = {
                terms.kind: coupons.issue(session, stage, terms, member_id, at).code
                for terms in coupons.registration_terms(SETTINGS)
            }
        return member_id, issued

    async def complete(self, member_id: str, total: int) -> str:
        order_id = f"o-{uuid.uuid4()}"
        await self.deliver(
            OrderConfirmedV1(order_id=order_id, member_id=member_id, total=cny(total)), order_id
        )
        await self.deliver(
            OrderCompletedV1(order_id=order_id, member_id=member_id, total=cny(total)), order_id
        )
        return order_id

    async def place(
        self, member_id: str, *, coupon: str | None = None, points: int = 0, subtotal: int = 20_000
    ) -> str:
        order_id = f"o-{uuid.uuid4()}"
        await self.deliver(
            OrderPlacedV1(
                order_id=order_id,
                member_id=member_id,
                currency="CNY",
                items=[],
                subtotal=cny(subtotal),
                discount=cny(0),
                total=cny(subtotal),
                placed_at=datetime.now(UTC),
                coupon_code=coupon,
                points=points,
            ),
            order_id,
        )
        return order_id


SETTINGS = MembershipSettings(tier_silver_spend=40_000)


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'membership.db'}"
    await upgrade_async(MIGRATIONS_DIR, url)
    database = Database(url)
    redis = create_redis(SETTINGS.redis_url)  # never connected: the saga does not use Redis
    state = MembershipState(keyring=KeyRing(SigningKey.generate()))
    # Nothing started: the producer only serves the dead-letter path, the relay is not run.
    producer = EventProducer(SETTINGS.kafka_bootstrap_servers)
    runtime = assemble_runtime(SETTINGS, database, redis, producer, state)
    [consumer] = CONSUMERS
    runner = ConsumerRunner(
        consumer,
        database,
        producer,
        service="membership",
        outbox=OUTBOX,
        runtime=runtime,
        max_attempts=1,
    )
    yield Harness(database, runner)
    await producer.stop()
    await redis.aclose()
    await database.dispose()


def types(published: list[tuple[str, dict[str, Any]]]) -> list[str]:
    return [t for t, _ in published]


async def test_hold_redeem_earn_and_tier_on_sqlite(harness: Harness) -> None:
    member_id, issued = await harness.new_member()
    await harness.complete(member_id, 30_000)  # 300 points
    order_id = await harness.place(member_id, coupon=issued[CouponKind.WELCOME_GIFT], points=200)
    assert types(await harness.published(order_id)) == [
        "membership.points.held",
        "membership.benefits.held",
    ]
    member = await harness.member(member_id)
    assert (member.points_balance, member.points_held) == (100, 200)

    confirmed = OrderConfirmedV1(order_id=order_id, member_id=member_id, total=cny(19_000))
    first = await harness.deliver(confirmed, order_id)
    await harness.deliver(confirmed, order_id, event_id=first.id)  # redelivered
    await harness.deliver(confirmed, order_id)  # the same fact again
    completed = OrderCompletedV1(order_id=order_id, member_id=member_id, total=cny(19_000))
    await harness.deliver(completed, order_id)
    await harness.deliver(completed, order_id)
    assert harness.outcomes[-5:] == ["handled", "duplicate", "handled", "handled", "handled"]
    assert types(await harness.published(order_id)) == [
        "membership.points.held",
        "membership.benefits.held",
        "membership.coupon.redeemed",
        "membership.points.redeemed",
    ]
    member = await harness.member(member_id)
    assert (member.points_balance, member.points_held, member.tier) == (290, 0, "SILVER")
    member_events = await harness.published(member_id)
    assert types(member_events).count("membership.points.earned") == 2
    [(_, tier)] = [(t, d) for t, d in member_events if t == "membership.tier.changed"]
    assert (tier["old_tier"], tier["new_tier"], tier["spend_12m"]["amount"]) == (
        "BRONZE",
        "SILVER",
        49_000,
    )
    ledger = await harness.ledger(member_id)
    assert [(r.kind, r.delta, r.held_delta, r.balance_after) for r in ledger] == [
        ("EARN", 300, 0, 300),
        ("HOLD", -200, 200, 100),
        ("REDEEM", 0, -200, 100),
        ("EARN", 190, 0, 290),
    ]


async def test_rejections_hold_nothing_and_restores_give_back(harness: Harness) -> None:
    member_id, issued = await harness.new_member()
    other_id, _ = await harness.new_member()
    welcome = issued[CouponKind.WELCOME_GIFT]

    too_many = await harness.place(member_id, points=1)
    not_mine = await harness.place(other_id, coupon=welcome)
    unknown = await harness.place(member_id, coupon="AAAA-BBBB-CCCC")
    small = await harness.place(member_id, coupon=welcome, subtotal=4_999)
    for order_id, reason in [
        (too_many, "INSUFFICIENT_POINTS"),
        (not_mine, "COUPON_INVALID"),
        (unknown, "COUPON_INVALID"),
        (small, "COUPON_INVALID"),
    ]:
        [(event_type, data)] = await harness.published(order_id)
        assert (event_type, data["reason"]) == ("membership.benefits.rejected", reason)

    held = await harness.place(member_id, coupon=welcome.lower().replace("-", ""))
    [*_, (_, answer)] = await harness.published(held)
    assert answer["coupon_code"] == welcome  # the stored form of what was typed
    twice = await harness.place(member_id, coupon=welcome)  # single use: it is held
    assert (await harness.published(twice))[0][1]["reason"] == "COUPON_INVALID"

    await harness.deliver(
        OrderRejectedV1(order_id=held, member_id=member_id, reason="OUT_OF_STOCK"), held
    )
    assert types(await harness.published(held))[-1] == "membership.coupon.restored"
    again = await harness.place(member_id, coupon=welcome)
    assert types(await harness.published(again)) == ["membership.benefits.held"]


async def test_first_order_coupon_needs_a_first_order(harness: Harness) -> None:
    member_id, issued = await harness.new_member()
    first = issued[CouponKind.FIRST_ORDER]
    await harness.complete(member_id, 1_000)
    order_id = await harness.place(member_id, coupon=first)
    [(event_type, data)] = await harness.published(order_id)
    assert (event_type, data["reason"]) == ("membership.benefits.rejected", "COUPON_INVALID")


async def test_refund_of_a_completed_order_gives_back_benefits_spend_and_points(
    harness: Harness,
) -> None:
    member_id, issued = await harness.new_member()
    await harness.complete(member_id, 10_000)  # 100 points
    welcome = issued[CouponKind.WELCOME_GIFT]
    order_id = await harness.place(member_id, coupon=welcome, points=100)
    for payload in (
        OrderConfirmedV1(order_id=order_id, member_id=member_id, total=cny(60_000)),
        OrderCompletedV1(order_id=order_id, member_id=member_id, total=cny(60_000)),
        OrderCancelledV1(
            order_id=order_id, member_id=member_id, reason="REFUNDED", was_confirmed=True
        ),
    ):
        await harness.deliver(payload, order_id)
    assert types(await harness.published(order_id)) == [
        "membership.points.held",
        "membership.benefits.held",
        "membership.coupon.redeemed",
        "membership.points.redeemed",
        "membership.coupon.restored",
        "membership.points.restored",
    ]
    member = await harness.member(member_id)
    # 100 earned - 100 used + 600 earned - 600 revoked + 100 restored
    assert (member.points_balance, member.points_held, member.tier) == (100, 0, "BRONZE")
    tiers = [d for t, d in await harness.published(member_id) if t == "membership.tier.changed"]
    assert [(d["old_tier"], d["new_tier"]) for d in tiers] == [
        ("BRONZE", "SILVER"),
        ("SILVER", "BRONZE"),
    ]


async def test_expired_points_cannot_be_held(harness: Harness) -> None:
    member_id, _ = await harness.new_member()
    await harness.complete(member_id, 10_000)  # 100 points
    async with harness.database.transaction() as session:
        await session.exec(
            sa.update(LOTS).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    await harness.complete(member_id, 5_000)  # 50 fresh points
    order_id = await harness.place(member_id, points=60)
    assert (await harness.published(order_id))[0][1]["reason"] == "INSUFFICIENT_POINTS"
    expired = [d for t, d in await harness.published(member_id) if t == "membership.points.expired"]
    assert [(d["points"], d["balance"]) for d in expired] == [(100, 50)]
    held = await harness.place(member_id, points=50)
    assert types(await harness.published(held))[-1] == "membership.benefits.held"


async def test_points_given_back_to_an_expired_lot_expire_at_once(harness: Harness) -> None:
    """The restore's own ledger row, not yet written when expiry is worked out, counts."""
    member_id, _ = await harness.new_member()
    await harness.complete(member_id, 10_000)  # 100 points
    order_id = await harness.place(member_id, points=100)
    async with harness.database.transaction() as session:
        await session.exec(
            sa.update(LOTS).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    rejected = OrderRejectedV1(order_id=order_id, member_id=member_id, reason="PAYMENT_FAILED")
    await harness.deliver(rejected, order_id)
    restored = [d for t, d in await harness.published(order_id) if t.endswith("restored")]
    assert [(d["points"], d["balance"]) for d in restored] == [(100, 100)]
    expired = [d for t, d in await harness.published(member_id) if t == "membership.points.expired"]
    assert [(d["points"], d["balance"]) for d in expired] == [(100, 0)]
    member = await harness.member(member_id)
    assert (member.points_balance, member.points_held) == (0, 0)
    ledger = await harness.ledger(member_id)
    assert [(r.kind, r.delta, r.held_delta, r.balance_after) for r in ledger] == [
        ("EARN", 100, 0, 100),
        ("HOLD", -100, 100, 0),
        ("RESTORE", 100, -100, 100),
        ("EXPIRE", -100, 0, 0),
    ]


async def test_the_tier_job_racing_a_points_hold_keeps_the_hold(harness: Harness) -> None:
    """On SQLite, whose FOR UPDATE locks nothing: the tier job read the member, then a hold of
    200 points committed before the job wrote the member back. The job takes the database's
    write lock before it reads (`member_rows.lock_member`), so the hold waits for it and the
    balance keeps the hold; before, the job wrote back the balance it had read."""
    member_id, _ = await harness.new_member()
    await harness.complete(member_id, 50_000)  # 500 points, SILVER
    async with harness.database.transaction() as session:
        await session.exec(
            sa.update(MEMBERS)
            .where(MEMBERS.c.id == member_id)
            .values(tier_reviewed_at=datetime.now(UTC) - timedelta(days=2))
        )
    runtime = harness.runner.runtime
    assert runtime is not None
    with pause_statement(harness.database, lambda sql: sql.startswith("UPDATE members")) as pause:
        job = asyncio.create_task(review_tiers(runtime))  # type: ignore[arg-type]
        await pause.reached.wait()
        hold = asyncio.create_task(harness.place(member_id, points=200))
        await asyncio.wait([hold], timeout=1.0)
        pause.go.set()
        await job
        await hold
    row = await harness.member(member_id)
    assert (row.points_balance, row.points_held) == (300, 200)
    assert harness.outcomes[-1] == "handled"


async def stale_silver_members(harness: Harness, count: int) -> list[str]:
    """`count` SILVER members (400 spent, 500 earned points) whose tier is due for review."""
    members = []
    for _ in range(count):
        member_id, _ = await harness.new_member()
        await harness.complete(member_id, 50_000)
        members.append(member_id)
    async with harness.database.transaction() as session:
        await session.exec(
            sa.update(MEMBERS)
            .where(MEMBERS.c.id.in_(members))
            .values(tier_reviewed_at=datetime.now(UTC) - timedelta(days=2))
        )
    return members


async def test_the_tier_job_reviews_every_due_member_in_one_round(harness: Harness) -> None:
    """Batches of 2, five members due: one round reviews all five (it took one batch a round,
    so a shop with more members due than a batch an hour fell behind for good)."""
    members = await stale_silver_members(harness, 5)
    runtime = harness.runner.runtime
    assert runtime is not None
    small_batches = replace(runtime, settings=SETTINGS.model_copy(update={"job_batch_size": 2}))
    await review_tiers(small_batches)  # type: ignore[arg-type]
    reviewed = [(await harness.member(m)).tier_reviewed_at for m in members]
    assert all(as_utc(at) > datetime.now(UTC) - timedelta(hours=1) for at in reviewed)


async def test_a_member_whose_review_fails_is_left_for_the_next_round(harness: Harness) -> None:
    members = await stale_silver_members(harness, 3)
    runtime = harness.runner.runtime
    assert runtime is not None
    failing = sorted(members)[1]

    async def review(conn: Any, stage: Any, member: Any) -> int:
        if member.id == failing:
            raise RuntimeError("a broken row")
        member.tier_reviewed_at, member.changed = datetime.now(UTC), True
        return 1

    def pick(after: str | None, limit: int) -> Any:
        query = sa.select(MEMBERS.c.id).where(MEMBERS.c.id.in_(members))
        if after is not None:
            query = query.where(MEMBERS.c.id > after)
        return query.order_by(MEMBERS.c.id).limit(limit)

    assert await each_member(runtime, "test", pick, review) == 2  # type: ignore[arg-type]
    fresh = datetime.now(UTC) - timedelta(hours=1)
    reviewed = {m: as_utc((await harness.member(m)).tier_reviewed_at) > fresh for m in members}
    assert reviewed == {m: m != failing for m in members}
