"""What placing an order reads before it prices: the SKUs' prices and the member's tier
discount, in one round trip."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from chassis.rules import RuleError
from chassis.testing.harness import offline_runtime
from chassis.testing.statements import statements_sent
from order_service.config import MIGRATIONS_DIR, OrderSettings
from order_service.domain.pricing import Benefits, Coupon, PricingRules, Quote, apply_benefits
from order_service.service.read_model import benefits_for, prices_and_tier
from order_service.tables import MEMBER_TIERS, PRODUCT_PRICES

pytestmark = pytest.mark.integration

SINCE = datetime(2026, 12, 1, tzinfo=UTC)
FOREIGN = Coupon("SOMEONES-CODE", "someone", 1000, 0, "CNY", SINCE, SINCE + timedelta(days=30))


def price(sku: str, amount: int) -> dict[str, object]:
    return {
        "sku": sku,
        "product_id": f"p-{sku}",
        "name": sku,
        "amount": amount,
        "currency": "CNY",
        "published": True,
        "product_version": 1,
    }


async def test_prices_and_the_members_tier_in_one_statement(database_url: str) -> None:
    settings = OrderSettings(database_url=database_url)
    async with offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime:
        async with runtime.database.transaction() as session:
            connection = await session.connection()
            await connection.execute(sa.insert(PRODUCT_PRICES), [price("A", 100), price("B", 250)])
            gold = {"member_id": "gold", "tier": "GOLD", "discount_percent": 5}
            await connection.execute(sa.insert(MEMBER_TIERS), gold)
        async with runtime.database.sessions() as session:
            with statements_sent(runtime.database.engine) as sent:
                tiered = await prices_and_tier(session, ["A", "B", "X"], "gold")
            untiered = await prices_and_tier(session, ["B"], "new-member")
            unknown = await prices_and_tier(session, ["X"], "gold")
    prices, discount = tiered
    assert ({s: p.amount for s, p in prices.items()}, discount) == ({"A": 100, "B": 250}, 5)
    assert prices["A"].published and prices["A"].product_id == "p-A"
    assert len(sent) == 1
    assert ({s: p.amount for s, p in untiered[0].items()}, untiered[1]) == ({"B": 250}, 0)
    assert unknown == ({}, 0)  # refused as unknown by pricing: no discount is needed


async def test_an_unknown_coupon_is_refused_as_another_members_is(database_url: str) -> None:
    # The same words for both: the answer does not tell a member which codes exist.
    settings = OrderSettings(database_url=database_url)
    async with (
        offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime,
        runtime.database.sessions() as session,
    ):
        with pytest.raises(RuleError) as unknown:
            await benefits_for(session, "NO-SUCH-CODE", 0, tier_discount_percent=0)
    with pytest.raises(RuleError) as foreign:
        apply_benefits(
            Quote(lines=(), currency="CNY", subtotal=20_000),
            Benefits(coupon=FOREIGN),
            PricingRules(),
            now=FOREIGN.valid_from,
            member_id="me",
        )
    assert unknown.value.code == foreign.value.code == "coupon-invalid"
    assert unknown.value.detail == "coupon NO-SUCH-CODE cannot be used"
    assert foreign.value.detail == "coupon SOMEONES-CODE cannot be used"
