"""Money in CNY at the rate the payment used: the event's `amount_cny` wins over analytics' own
`ANALYTICS_FX_RATES`, which only prices events that predate the field; a paid order's CNY total
is split over its lines by their amounts in the order's currency, to the fen."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator
from fractions import Fraction
from pathlib import Path

import pytest
from sqlmodel import col, select

from analytics_service.config import MIGRATIONS_DIR, AnalyticsSettings
from analytics_service.deps import AnalyticsRuntime
from analytics_service.domain.money import allocate, paid_to_reporting
from analytics_service.handlers import CONSUMERS
from analytics_service.tables import MoneyBackRow
from chassis.testing.harness import Harness, offline_runtime
from shared_events.money import Money
from shared_events.payment import PaymentRefundedV1, PaymentVoidedV1

# Analytics' guess differs from the rate the payment used (7.10 at its authorisation).
ANALYTICS_RATES = {"USD": 7_300_000}
USD = Money(amount=12_345, currency="USD")  # 123.45 USD
PAID_CNY = Money(amount=87_650, currency="CNY")  # 876.495 at 7.10 -> 876.50


def test_the_payment_conversion_wins_over_the_rates() -> None:
    assert paid_to_reporting(12_345, "USD", ANALYTICS_RATES, amount_cny=87_650) == 87_650


def test_without_it_the_rates_price_the_amount() -> None:
    # 123.45 USD at 7.30: 901.185 -> 901.18 (half to even).
    assert paid_to_reporting(12_345, "USD", ANALYTICS_RATES, amount_cny=None) == 90_118
    assert paid_to_reporting(500, "CNY", {}, amount_cny=None) == 500


def test_the_paid_total_is_split_by_the_lines_order_currency_amounts() -> None:
    # 13.33 USD paid as 94.64 CNY: CUP 3.33 USD -> 2364.2..., TEA 10.00 USD -> 7099.7...; the
    # fen left over goes to TEA (the larger remainder, and here the larger line).
    assert allocate(9_464, [333, 1_000]) == [2_364, 7_100]
    # One line takes the whole total; equal lines share the odd fen from the first.
    assert allocate(9_464, [1_333]) == [9_464]
    assert allocate(9_465, [500, 500]) == [4_733, 4_732]


def test_the_split_sums_to_the_total_and_stays_within_a_fen_of_the_exact_share() -> None:
    draw = random.Random(12)  # fixed: the same cases every run
    for _ in range(2_000):
        weights = [draw.randint(0, 100_000) for _ in range(draw.randint(1, 6))]
        total = draw.randint(0, 10_000_000)
        parts = allocate(total, weights)
        assert sum(parts) == total
        if not sum(weights):  # all zero: an even split
            weights = [1] * len(weights)
        for part, weight in zip(parts, weights, strict=True):
            exact = Fraction(total * weight, sum(weights))
            assert 0 <= part - int(exact) <= 1


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness[AnalyticsRuntime]]:
    url = f"sqlite+aiosqlite:///{tmp_path / 'analytics.db'}"
    settings = AnalyticsSettings(database_url=url, fx_rates=ANALYTICS_RATES)
    async with offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime:
        yield Harness.of(runtime, CONSUMERS)


async def money_back(harness: Harness[AnalyticsRuntime], order_id: str) -> list[tuple[str, int]]:
    async with harness.database.sessions() as session:
        rows = await session.exec(
            select(MoneyBackRow)
            .where(col(MoneyBackRow.order_id) == order_id)
            .order_by(col(MoneyBackRow.kind))
        )
        return [(row.kind, row.amount_cny) for row in rows]


async def test_refund_and_void_are_stored_at_the_payment_rate(
    harness: Harness[AnalyticsRuntime],
) -> None:
    await harness.deliver(
        PaymentRefundedV1(
            order_id="o-1", payment_id="p-1", refund_id="r-1", amount=USD, amount_cny=PAID_CNY
        )
    )
    await harness.deliver(
        PaymentVoidedV1(order_id="o-2", payment_id="p-2", amount=USD, amount_cny=PAID_CNY)
    )
    assert harness.outcomes == ["handled", "handled"]
    assert await money_back(harness, "o-1") == [("REFUND", 87_650)]
    assert await money_back(harness, "o-2") == [("VOID", 87_650)]


async def test_an_event_without_it_falls_back_to_the_setting(
    harness: Harness[AnalyticsRuntime],
) -> None:
    await harness.deliver(
        PaymentRefundedV1(order_id="o-3", payment_id="p-3", refund_id="r-3", amount=USD)
    )
    assert harness.outcomes == ["handled"]
    assert await money_back(harness, "o-3") == [("REFUND", 90_118)]
