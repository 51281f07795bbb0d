"""GMV, AOV and the per-SKU and per-category amounts of a non-CNY order at the rate its payment
used (`amount_cny` of payment.payment.authorized / captured), not analytics' own
ANALYTICS_FX_RATES, whichever topic's events arrive first; on PostgreSQL and on SQLite.

One reporting day, analytics' rates saying 7.30 CNY per USD, the payment having used 7.10:
  O-USD  TEA x2 10.00 USD + CUP x1 3.33 USD = 13.33 USD, paid 94.64 CNY (at 7.30: 97.31)
         split by the lines' USD amounts (in SKU order, CUP before TEA): CUP 2364, TEA 7100
  O-CNY  TEA x1 50.00 CNY, its payment saying 5000 fen too: unchanged
  O-OLD  TEA x1 10.00 USD, its payment from a producer without amount_cny: 7300 at 7.30
  GMV 9464 + 5000 + 7300 = 21764 over 3 paid orders: AOV 7254.67 -> 7255
  tea 7100 + 5000 + 7300 = 19400 (4 units), teaware 2364 (1 unit)
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from analytics_service.config import AnalyticsSettings
from chassis.testing.infra import DatabaseFactory
from chassis.testing.statements import statements_sent
from chassis.testing.tokens import TestTokenIssuer
from shared_events.catalog import ProductCreatedV1, SkuSnapshot
from shared_events.order import OrderConfirmedV1
from shared_events.payment import PaymentAuthorizedV1, PaymentCapturedV1

from .conftest import (
    Analytics,
    analytics_on,
    cny,
    database_url,
    days_before_today,
    fresh_ids,
    placed,
)

pytestmark = pytest.mark.integration

ANALYTICS_RATES = {"USD": 7_300_000}  # analytics' guess; the payment used 7.10


@pytest.fixture(params=["postgresql", "sqlite"])
async def analytics(
    request: pytest.FixtureRequest,
    create_database: DatabaseFactory,
    token_issuer: TestTokenIssuer,
    tmp_path: Path,
) -> AsyncIterator[Analytics]:
    settings = AnalyticsSettings(
        database_url=await database_url(request.param, create_database, tmp_path),
        jwks_url=token_issuer.jwks_url,  # type: ignore[attr-defined]
        environment="test",
        fx_rates=ANALYTICS_RATES,
    )
    async with analytics_on(settings, token_issuer) as a:
        yield a


ARRIVALS = ["payment before the order", "between placed and confirmed", "payment last"]


@pytest.mark.parametrize("arrival", ARRIVALS)
async def test_a_usd_order_counts_at_the_rate_its_payment_used(
    analytics: Analytics, arrival: str
) -> None:
    days, ids = days_before_today(1), fresh_ids()
    day = days.second
    send = analytics.deliver
    tea, cup, m1 = ids["TEA"], ids["CUP"], ids["m1"]
    assert cup < tea  # the split's order below (CUP first) is the SKUs' order
    for product, sku, category in (("P-TEA", tea, "tea"), ("P-CUP", cup, "teaware")):
        await send(
            ProductCreatedV1(
                product_id=ids[product],
                name=product,
                category=category,
                skus=[SkuSnapshot(sku=sku, price=cny(1000))],
                status="PUBLISHED",
                version=1,
            ),
            days.at(day, 0),
        )

    usd, usd_total = ids["O1"], cny(1333, "USD")
    authorized = PaymentAuthorizedV1(
        order_id=usd, payment_id="p-1", amount=usd_total, amount_cny=cny(9464)
    )
    captured = PaymentCapturedV1(
        order_id=usd, payment_id="p-1", amount=usd_total, amount_cny=cny(9464)
    )
    steps: list[Callable[[], Awaitable[object]]] = [
        lambda: send(
            placed(
                usd,
                m1,
                [(tea, ids["P-TEA"], 2, 1000), (cup, ids["P-CUP"], 1, 333)],
                days.at(day, 2),
                currency="USD",
            ),
            days.at(day, 2),
        ),
        lambda: send(
            OrderConfirmedV1(order_id=usd, member_id=m1, total=usd_total), days.at(day, 3)
        ),
    ]
    payment = [
        lambda: send(authorized, days.at(day, 2, 30)),
        lambda: send(captured, days.at(day, 3, 1)),
    ]
    if arrival == "payment before the order":
        order = payment + steps
    elif arrival == "between placed and confirmed":
        order = [steps[0], payment[0], steps[1], payment[1]]
    else:
        order = steps + payment
    for step in order:
        await step()

    cny_order, old = ids["O2"], ids["O3"]
    await send(
        placed(cny_order, m1, [(tea, ids["P-TEA"], 1, 5000)], days.at(day, 4)), days.at(day, 4)
    )
    await send(
        PaymentAuthorizedV1(
            order_id=cny_order, payment_id="p-2", amount=cny(5000), amount_cny=cny(5000)
        ),
        days.at(day, 4, 1),
    )
    await send(
        OrderConfirmedV1(order_id=cny_order, member_id=m1, total=cny(5000)), days.at(day, 4, 2)
    )
    await send(
        placed(old, m1, [(tea, ids["P-TEA"], 1, 1000)], days.at(day, 5), currency="USD"),
        days.at(day, 5),
    )
    await send(
        PaymentAuthorizedV1(order_id=old, payment_id="p-3", amount=cny(1000, "USD")),
        days.at(day, 5, 1),
    )
    await send(
        OrderConfirmedV1(order_id=old, member_id=m1, total=cny(1000, "USD")), days.at(day, 5, 2)
    )
    assert set(analytics.harness.outcomes) == {"handled"}
    assert analytics.harness.dead_letters == []

    one_day = {"from": day.isoformat(), "to": day.isoformat()}
    report = await analytics.json("/kpis", **one_day)
    totals = report["totals"]
    assert (totals["gmv"], totals["orders_paid"], totals["aov"]) == (21764, 3, 7255)
    assert [(c["category"], c["gmv"], c["units_sold"]) for c in report["categories"]] == [
        ("tea", 19400, 4),
        ("teaware", 2364, 1),
    ]
    tea_report = await analytics.json(f"/skus/{tea}", **one_day)
    assert [(d["day"], d["units_sold"], d["gmv"]) for d in tea_report["days"]] == [
        (day.isoformat(), 4, 19400)
    ]
    cup_report = await analytics.json(f"/skus/{cup}", **one_day)
    assert (cup_report["units_sold"], cup_report["gmv"]) == (1, 2364)
    top = await analytics.json("/top-products", **one_day)
    assert [(i["product_id"], i["gmv"]) for i in top["items"]] == [
        (ids["P-TEA"], 19400),
        (ids["P-CUP"], 2364),
    ]


async def test_a_capture_of_the_amount_already_recorded_ends_at_its_upsert(
    analytics: Analytics,
) -> None:
    """Authorised, then captured: the same amount at the same rate. The capture's upsert finds
    the amount recorded and returns no row, so nothing is read or split again, and the
    figures stay those of the authorisation."""
    days, ids = days_before_today(1), fresh_ids()
    day, send = days.second, analytics.deliver
    tea, cup, m1, order = ids["TEA"], ids["CUP"], ids["m1"], ids["O1"]
    usd_total = cny(1333, "USD")
    lines = [(tea, ids["P-TEA"], 2, 1000), (cup, ids["P-CUP"], 1, 333)]
    await send(placed(order, m1, lines, days.at(day, 2), currency="USD"), days.at(day, 2))
    await send(OrderConfirmedV1(order_id=order, member_id=m1, total=usd_total), days.at(day, 3))
    await send(
        PaymentAuthorizedV1(order_id=order, payment_id="p", amount=usd_total, amount_cny=cny(9464)),
        days.at(day, 3, 1),
    )
    one_day = {"from": day.isoformat(), "to": day.isoformat()}
    authorised = await analytics.json("/kpis", **one_day)
    assert authorised["totals"]["gmv"] == 9464

    with statements_sent(analytics.runtime.database.engine) as sent:
        await send(
            PaymentCapturedV1(
                order_id=order, payment_id="p", amount=usd_total, amount_cny=cny(9464)
            ),
            days.at(day, 3, 2),
        )
    projection = [s for s in sent if "analytics_order" in s]
    assert len(projection) == 1 and projection[0].startswith("INSERT INTO analytics_orders")
    assert await analytics.json("/kpis", **one_day) == authorised
    assert set(analytics.harness.outcomes) == {"handled"}
