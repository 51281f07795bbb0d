"""The read model on SQLite (the development default), which hands timestamps back without
their zone: what it gives the domain is aware, so pricing compares UTC with UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from chassis.testing.harness import offline_runtime
from order_service.config import MIGRATIONS_DIR, OrderSettings
from order_service.domain.pricing import PricingRules, Quote, apply_benefits
from order_service.service.read_model import benefits_for
from order_service.tables import CouponRow

NOW = datetime.now(UTC)


async def test_a_coupon_read_back_from_sqlite_has_utc_dates_and_applies(tmp_path: Path) -> None:
    settings = OrderSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'order.db'}")
    async with offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime:
        async with runtime.database.transaction() as session:
            session.add(
                CouponRow(
                    code="WELCOME",
                    member_id="m1",
                    amount_off=1000,
                    min_spend=5000,
                    currency="CNY",
                    valid_from=NOW - timedelta(days=1),
                    valid_until=NOW + timedelta(days=1),
                )
            )
        async with runtime.database.sessions() as session:
            benefits = await benefits_for(session, "WELCOME", 0, tier_discount_percent=0)
    assert benefits.coupon is not None
    assert benefits.coupon.valid_from == NOW - timedelta(days=1)
    assert benefits.coupon.valid_until.tzinfo is not None
    quote = Quote(lines=(), currency="CNY", subtotal=20000)
    priced = apply_benefits(quote, benefits, PricingRules(), now=NOW, member_id="m1")
    assert priced.coupon_discount == 1000
