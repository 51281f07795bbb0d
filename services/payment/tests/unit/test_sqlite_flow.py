"""The whole payment flow on SQLite (the development default), through the chassis consumer
path (envelope -> inbox -> handler -> outbox, one transaction) without a broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select, update

from chassis.testing.harness import Harness, offline_runtime
from payment_service.adapters.providers import SandboxProvider
from payment_service.config import MIGRATIONS_DIR, PaymentSettings
from payment_service.deps import PaymentRuntime, PaymentState
from payment_service.handlers import CONSUMERS
from payment_service.tables import FxRateRow, LedgerEntryRow, PaymentIntentRow
from shared_events.money import Money
from shared_events.order import OrderCancelledV1, OrderConfirmedV1, PaymentRequestedV1


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness[PaymentRuntime]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'payment.db'}"
    settings = PaymentSettings(database_url=url, risk_velocity_max=2, provider_backoff_seconds=0)
    state = PaymentState.build(settings, SandboxProvider())
    async with offline_runtime(settings, state, migrations=MIGRATIONS_DIR) as runtime:
        yield Harness.of(runtime, CONSUMERS)


def requested(order_id: str, member_id: str, card: str = "tok_visa") -> PaymentRequestedV1:
    return PaymentRequestedV1(
        order_id=order_id,
        member_id=member_id,
        amount=Money(amount=2_000, currency="USD"),
        payment_token=card,
    )


async def test_authorize_capture_refund_on_sqlite(harness: Harness[PaymentRuntime]) -> None:
    order_id, member = "o-1", "m-1"
    await harness.deliver(requested(order_id, member))
    # The rate moves after the authorisation (20.00 USD at 7.10 = 142.00 CNY): the capture and
    # the refund still convert at the authorisation's rate.
    async with harness.database.sessions() as session:
        await session.exec(
            update(FxRateRow)
            .where(col(FxRateRow.base) == "USD", col(FxRateRow.quote) == "CNY")
            .values(rate_micros=7_300_000)
        )
        await session.commit()
    confirmed = OrderConfirmedV1(
        order_id=order_id, member_id=member, total=Money(amount=2_000, currency="USD")
    )
    first = await harness.deliver(confirmed)
    await harness.deliver(confirmed, event_id=first.id)
    await harness.deliver(confirmed)
    cancelled = OrderCancelledV1(
        order_id=order_id, member_id=member, reason="CANCELLED_BY_CUSTOMER", was_confirmed=True
    )
    await harness.deliver(cancelled)
    assert harness.outcomes == ["handled", "handled", "duplicate", "handled", "handled"]
    published = await harness.published(order_id)
    assert [t for t, _ in published] == [
        "payment.payment.authorized",
        "payment.payment.captured",
        "payment.payment.refunded",
    ]
    for _, data in published:
        assert data["amount"] == {"amount": 2_000, "currency": "USD"}
        assert data["amount_cny"] == {"amount": 14_200, "currency": "CNY"}
    async with harness.database.sessions() as session:
        intent = (await session.exec(select(PaymentIntentRow))).one()
        kinds = [e.kind for e in (await session.exec(select(LedgerEntryRow))).all()]
        assert (intent.status, intent.captured_amount, intent.refunded_amount) == (
            "REFUNDED",
            2_000,
            2_000,
        )
        assert intent.amount_cny == 14_200
        assert kinds == ["AUTHORIZE", "CAPTURE", "REFUND"]
        # The partial unique index works on SQLite too.
        session.add(
            LedgerEntryRow(
                entry_id=str(uuid.uuid4()),
                intent_id=intent.id,
                kind="CAPTURE",
                amount=1,
                currency="USD",
                at=intent.created_at,
            )
        )
        with pytest.raises(IntegrityError):
            await session.flush()
    # A payment authorised after the change converts at the new rate: 20.00 USD = 146.00 CNY.
    await harness.deliver(requested("o-2", "m-2"))
    [(_, later)] = await harness.published("o-2")
    assert later["amount_cny"] == {"amount": 14_600, "currency": "CNY"}


async def test_velocity_counts_attempts_but_not_risk_rejections(
    harness: Harness[PaymentRuntime],
) -> None:
    member = "m-fast"
    for i, card in enumerate(["tok_visa", "tok_chargeDeclined"]):  # a decline counts
        await harness.deliver(requested(f"o-v{i}", member, card))
    for order_id in ("o-v2", "o-v3"):
        await harness.deliver(requested(order_id, member))
        [(event_type, data)] = await harness.published(order_id)
        assert (event_type, data["reason"]) == ("payment.payment.failed", "RISK_REJECTED")
    # Another member is not affected.
    await harness.deliver(requested("o-other", "m-slow"))
    [(event_type, _)] = await harness.published("o-other")
    assert event_type == "payment.payment.authorized"


async def test_an_intent_without_its_cny_amount_publishes_none(
    harness: Harness[PaymentRuntime],
) -> None:
    # An intent in USD authorised before the CNY amount was recorded (migration 0002 leaves it
    # NULL): its capture says nothing rather than guess a rate, and consumers fall back.
    await harness.deliver(requested("o-old", "m-old"))
    async with harness.database.sessions() as session:
        await session.exec(update(PaymentIntentRow).values(amount_cny=None))
        await session.commit()
    await harness.deliver(
        OrderConfirmedV1(
            order_id="o-old", member_id="m-old", total=Money(amount=2_000, currency="USD")
        )
    )
    [_, (event_type, data)] = await harness.published("o-old")
    assert event_type == "payment.payment.captured"
    assert data["amount"] == {"amount": 2_000, "currency": "USD"}
    assert data["amount_cny"] is None
