"""Analytics on a real database: events in through the chassis consumer (`Harness`), the KPIs out
through the API. `scripted_days` is two days of traffic whose figures the tests computed by hand.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from analytics_service.api import pages, router
from analytics_service.config import MIGRATIONS_DIR, AnalyticsSettings
from analytics_service.deps import AnalyticsRuntime
from analytics_service.handlers import CONSUMERS
from chassis.errors import install_problem_handlers
from chassis.testing.events import Record, envelope_of, topic_of
from chassis.testing.harness import Harness, offline_runtime
from chassis.testing.infra import DatabaseFactory
from chassis.testing.tokens import TestTokenIssuer
from shared_events import Envelope, EventPayload
from shared_events.catalog import ProductCreatedV1, ProductViewedV1, SkuSnapshot
from shared_events.inventory import (
    StockAdjustedV1,
    StockCommittedV1,
    StockLine,
    StockLowV1,
    StockReleasedV1,
)
from shared_events.membership import (
    CouponIssuedV1,
    CouponRedeemedV1,
    MemberRegisteredV1,
    PointsEarnedV1,
    PointsRedeemedV1,
    PointsRestoredV1,
    TierChangedV1,
)
from shared_events.money import Money
from shared_events.order import (
    CartItemChangedV1,
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderLine,
    OrderPlacedV1,
    OrderRejectedV1,
    OrderReturnedV1,
)
from shared_events.payment import PaymentRefundedV1

SHANGHAI_OFFSET = timedelta(hours=8)


def cny(amount: int, currency: str = "CNY") -> Money:
    return Money(amount=amount, currency=currency)


@dataclass
class Analytics:
    """The projection's runtime, its consumers driven by a harness, and its API."""

    runtime: AnalyticsRuntime
    harness: Harness[AnalyticsRuntime]
    http: httpx.AsyncClient
    admin: dict[str, str]
    customer: dict[str, str]

    async def deliver(
        self, payload: EventPayload, at: datetime, *, event_id: uuid.UUID | None = None
    ) -> Envelope:
        """The event as its producer wrote it at `at` (its `time`), handed to the consumer of
        its topic as one poll's record."""
        envelope = stamped(payload, at, event_id=event_id)
        topic = topic_of(payload)
        outcome = await self.harness.runners[topic].handle(Record.of(envelope, topic=topic))
        self.harness.outcomes.append(outcome)
        return envelope

    async def deliver_poll(self, topic: str, envelopes: list[Envelope]) -> None:
        """The envelopes as the records of one poll of `topic`: one transaction for them all."""
        records = [Record.of(envelope, topic=topic) for envelope in envelopes]
        await self.harness.runners[topic].handle_batch(records)

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.http.get(
            f"/api/v1/admin/analytics{path}", params=params, headers=self.admin
        )

    async def json(self, path: str, **params: Any) -> Any:
        response = await self.get(path, **params)
        assert response.status_code == 200, response.text
        return response.json()


def stamped(payload: EventPayload, at: datetime, *, event_id: uuid.UUID | None = None) -> Envelope:
    """The event's envelope as its producer wrote it at `at` (its `time`)."""
    return envelope_of(payload, event_id=event_id).model_copy(update={"time": at})


def api_of(runtime: AnalyticsRuntime) -> FastAPI:
    """The service's routers and error handlers over `runtime` (no broker, no lifespan)."""
    app = FastAPI()
    install_problem_handlers(app)
    app.include_router(router)
    app.include_router(pages)
    app.state.runtime = runtime
    return app


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def database_url(kind: str, create_database: DatabaseFactory, tmp_path: Path) -> str:
    """On PostgreSQL (compose, k8s) and on SQLite (`make run`): the same projection."""
    if kind == "postgresql":
        return await create_database("analytics")
    return f"sqlite+aiosqlite:///{tmp_path / 'analytics.db'}"


@asynccontextmanager
async def analytics_on(
    settings: AnalyticsSettings, token_issuer: TestTokenIssuer
) -> AsyncIterator[Analytics]:
    async with offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime:
        transport = httpx.ASGITransport(app=api_of(runtime))
        async with httpx.AsyncClient(transport=transport, base_url="http://analytics") as http:
            yield Analytics(
                runtime,
                Harness.of(runtime, CONSUMERS),
                http,
                bearer(token_issuer.admin_token()),
                bearer(token_issuer.token()),
            )


@pytest.fixture
async def served_settings(
    create_database: DatabaseFactory,
    isolated_kafka: str,
    redis_url: str,
    token_issuer: TestTokenIssuer,
) -> AnalyticsSettings:
    """Settings of an analytics service served with its consumers: a new PostgreSQL database,
    the test's own broker, Redis and the test token issuer's keys."""
    return AnalyticsSettings(
        database_url=await create_database("analytics"),
        kafka_bootstrap_servers=isolated_kafka,
        redis_url=redis_url,
        jwks_url=token_issuer.jwks_url,  # type: ignore[attr-defined]
        environment="test",
        consumer_backoff_seconds=0.05,
    )


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
    )
    async with analytics_on(settings, token_issuer) as a:
        yield a


# ---- the scripted days ---------------------------------------------------------------------


@dataclass(frozen=True)
class Days:
    """Two reporting days (Asia/Shanghai); `at(day, hour)` is a UTC instant on that day (hours
    before 16:00 UTC are the same Shanghai date)."""

    first: date
    second: date

    def at(self, which: date, hour: int, minute: int = 0) -> datetime:
        return datetime(which.year, which.month, which.day, hour, minute, tzinfo=UTC)


def days_before_today(n: int) -> Days:
    today = (datetime.now(UTC) + SHANGHAI_OFFSET).date()
    second = today - timedelta(days=n)
    return Days(second - timedelta(days=1), second)


def placed(
    order_id: str,
    member: str,
    lines: list[tuple[str, str, int, int]],
    when: datetime,
    *,
    discount: int = 0,
    currency: str = "CNY",
    coupon: str | None = None,
) -> OrderPlacedV1:
    items = [
        OrderLine(
            sku=sku,
            product_id=product,
            name=sku,
            quantity=quantity,
            unit_price=cny(line_total // quantity, currency),
            line_total=cny(line_total, currency),
        )
        for sku, product, quantity, line_total in lines
    ]
    subtotal = sum(line_total for *_, line_total in lines)
    return OrderPlacedV1(
        order_id=order_id,
        member_id=member,
        currency=currency,
        items=items,
        subtotal=cny(subtotal, currency),
        discount=cny(discount, currency),
        total=cny(subtotal - discount, currency),
        placed_at=when,
        coupon_code=coupon,
    )


def committed(order_id: str, *lines: tuple[str, int]) -> StockCommittedV1:
    return StockCommittedV1(
        order_id=order_id, lines=[StockLine(sku=s, quantity=q) for s, q in lines]
    )


def released(order_id: str, reason: str, *lines: tuple[str, int]) -> StockReleasedV1:
    return StockReleasedV1(
        order_id=order_id, lines=[StockLine(sku=s, quantity=q) for s, q in lines], reason=reason
    )


async def scripted_days(a: Analytics, d: Days, ids: dict[str, str]) -> None:
    """The traffic whose figures test_kpis_api.py computed by hand. `ids` names the orders
    (O1..O6) and members (m1, m2), unique per test. Times are UTC; D1/D2 the two days.

    catalog: TEA-1 (tea), CUP-1 (teaware). Stock counted on D2 01:00: TEA-1 20, CUP-1 4
    (CUP-1's safety stock 5). m1 registered on D1 (SILVER since), m2 on D2.
      O6  D1  m2  CUP-1 x1  3000 CNY        paid
      O5  D1  m1  TEA-1 x1  5000 CNY        paid on D1, returned and refunded on D2
      O1  D2  m1  TEA-1 x2 10000 + CUP-1 x1 3000 - coupon 1000 = 12000, paid
      O2  D2  m2  TEA-1 x1  10.00 USD = 7100 CNY, paid
      O3  D2  m2  CUP-1 x5 15000            rejected OUT_OF_STOCK
      O4  D2  m1  TEA-1 x1  5000            paid, cancelled by the customer, refunded
    """
    o, m, d1, d2 = ids, ids, d.first, d.second
    tea, cup = ids["TEA"], ids["CUP"]
    send = a.deliver
    for product, sku, category, price in (
        ("P-TEA", tea, "tea", 5000),
        ("P-CUP", cup, "teaware", 3000),
    ):
        await send(
            ProductCreatedV1(
                product_id=ids[product],
                name=product,
                category=category,
                skus=[SkuSnapshot(sku=sku, price=cny(price))],
                status="PUBLISHED",
                version=1,
            ),
            d.at(d1, 0),
        )
    await send(
        MemberRegisteredV1(
            member_id=m["m1"],
            email="m1@example.com",
            name="m1",
            locale="zh-CN",
            registered_at=d.at(d1, 3),
        ),
        d.at(d1, 3),
    )
    await send(
        MemberRegisteredV1(
            member_id=m["m2"],
            email="m2@example.com",
            name="m2",
            locale="en",
            registered_at=d.at(d2, 3),
        ),
        d.at(d2, 3),
    )
    await send(
        TierChangedV1(
            member_id=m["m1"],
            old_tier="BRONZE",
            new_tier="SILVER",
            discount_percent=2,
            spend_12m=cny(0),
        ),
        d.at(d1, 4),
    )
    for member, code, when in (
        (m["m1"], ids["W1"], d.at(d1, 3)),
        (m["m2"], ids["W2"], d.at(d2, 3)),
    ):
        await send(
            CouponIssuedV1(
                member_id=member,
                coupon_code=code,
                kind="WELCOME_GIFT",
                amount_off=cny(1000),
                min_spend=cny(5000),
                valid_from=when,
                valid_until=when + timedelta(days=30),
            ),
            when,
        )
    # D1: O6 and O5 paid and their units committed (before D2's count: the count includes them).
    await send(placed(o["O6"], m["m2"], [(cup, ids["P-CUP"], 1, 3000)], d.at(d1, 9)), d.at(d1, 9))
    await send(
        OrderConfirmedV1(order_id=o["O6"], member_id=m["m2"], total=cny(3000)), d.at(d1, 9, 1)
    )
    await send(committed(o["O6"], (cup, 1)), d.at(d1, 9, 2))
    await send(placed(o["O5"], m["m1"], [(tea, ids["P-TEA"], 1, 5000)], d.at(d1, 6)), d.at(d1, 6))
    await send(
        OrderConfirmedV1(order_id=o["O5"], member_id=m["m1"], total=cny(5000)), d.at(d1, 6, 1)
    )
    await send(committed(o["O5"], (tea, 1)), d.at(d1, 6, 2))
    # D2
    await send(
        StockAdjustedV1(sku=cup, delta=4, on_hand=4, reserved=0, available=4, reason="count"),
        d.at(d2, 1),
    )
    await send(StockLowV1(sku=cup, available=4, safety_stock=5), d.at(d2, 1, 1))
    o1 = placed(
        o["O1"],
        m["m1"],
        [(tea, ids["P-TEA"], 2, 10000), (cup, ids["P-CUP"], 1, 3000)],
        d.at(d2, 2),
        discount=1000,
        coupon=ids["W1"],
    )
    await send(o1, d.at(d2, 2))
    await send(
        OrderConfirmedV1(order_id=o["O1"], member_id=m["m1"], total=cny(12000)), d.at(d2, 2, 1)
    )
    await send(
        CouponRedeemedV1(order_id=o["O1"], member_id=m["m1"], coupon_code=ids["W1"]), d.at(d2, 2, 1)
    )
    await send(
        PointsRedeemedV1(order_id=o["O1"], member_id=m["m1"], points=300, balance=0), d.at(d2, 2, 1)
    )
    await send(committed(o["O1"], (tea, 2), (cup, 1)), d.at(d2, 2, 2))
    await send(
        placed(o["O2"], m["m2"], [(tea, ids["P-TEA"], 1, 1000)], d.at(d2, 4), currency="USD"),
        d.at(d2, 4),
    )
    confirmed_o2 = OrderConfirmedV1(order_id=o["O2"], member_id=m["m2"], total=cny(1000, "USD"))
    first = await send(confirmed_o2, d.at(d2, 4, 1))
    await send(confirmed_o2, d.at(d2, 4, 1), event_id=first.id)  # delivered twice: once
    await send(committed(o["O2"], (tea, 1)), d.at(d2, 4, 2))
    await send(placed(o["O3"], m["m2"], [(cup, ids["P-CUP"], 5, 15000)], d.at(d2, 5)), d.at(d2, 5))
    await send(
        OrderRejectedV1(order_id=o["O3"], member_id=m["m2"], reason="OUT_OF_STOCK"), d.at(d2, 5, 1)
    )
    await send(placed(o["O4"], m["m1"], [(tea, ids["P-TEA"], 1, 5000)], d.at(d2, 6)), d.at(d2, 6))
    await send(
        OrderConfirmedV1(order_id=o["O4"], member_id=m["m1"], total=cny(5000)), d.at(d2, 6, 1)
    )
    await send(committed(o["O4"], (tea, 1)), d.at(d2, 6, 2))
    await send(
        OrderCancelledV1(
            order_id=o["O4"], member_id=m["m1"], reason="CANCELLED_BY_CUSTOMER", was_confirmed=True
        ),
        d.at(d2, 7),
    )
    await send(
        PointsRestoredV1(
            order_id=o["O1"], member_id=m["m1"], points=300, balance=300, reason="ORDER_CANCELLED"
        ),
        d.at(d2, 7),
    )
    await send(
        PaymentRefundedV1(order_id=o["O4"], payment_id="pay-4", refund_id="r-4", amount=cny(5000)),
        d.at(d2, 7, 1),
    )
    await send(released(o["O4"], "ORDER_CANCELLED", (tea, 1)), d.at(d2, 7, 2))
    await send(
        OrderReturnedV1(
            order_id=o["O5"], member_id=m["m1"], reason="RETURNED_BY_CUSTOMER", total=cny(5000)
        ),
        d.at(d2, 8),
    )
    await send(released(o["O5"], "ORDER_RETURNED", (tea, 1)), d.at(d2, 8, 2))
    await send(
        PointsEarnedV1(member_id=m["m1"], order_id=o["O1"], points=120, balance=420), d.at(d2, 9)
    )
    # Late: TEA-1's count of D2 01:00 arrives after the moves it precedes, then an older count
    # (D2 00:30, 99 units) that must not replace it; O5's refund arrives last of all.
    await send(
        StockAdjustedV1(sku=tea, delta=20, on_hand=20, reserved=0, available=20, reason="count"),
        d.at(d2, 1),
    )
    await send(
        StockAdjustedV1(
            sku=tea, delta=99, on_hand=99, reserved=0, available=99, reason="older count"
        ),
        d.at(d2, 0, 30),
    )
    await send(
        PaymentRefundedV1(order_id=o["O5"], payment_id="pay-5", refund_id="r-5", amount=cny(5000)),
        d.at(d2, 8, 1),
    )


def viewed(product: str, skus: list[str], when: datetime, member: str | None) -> ProductViewedV1:
    return ProductViewedV1(product_id=product, skus=skus, member_id=member, viewed_at=when)


def cart(member: str, sku: str, before: int, after: int, when: datetime) -> CartItemChangedV1:
    return CartItemChangedV1(
        member_id=member, sku=sku, quantity_before=before, quantity_after=after, changed_at=when
    )


async def scripted_interest(a: Analytics, d: Days, ids: dict[str, str]) -> None:
    """The views and cart changes of the scripted days (after `scripted_days`), whose funnel
    test_funnel_api.py computed by hand. Shanghai days: 16:00 UTC is the next day's midnight.

    views    D1 05:00 P-TEA anonymous                         D1 tea
             D1 17:00 P-CUP m2   (D2 01:00 in Shanghai)       D2 teaware
             D2 01:00, 01:05 P-TEA m1 (the same member twice)  D2 tea, 2
             D2 01:30 P-TEA anonymous                         D2 tea
             D2 02:00 P-GHOST (no catalog event)              D2 uncategorised
             D2 03:00 P-CUP m2                                D2 teaware
             D2 03:00 P-TEA m2, delivered twice               D2 tea, once
             D2 20:00 P-TEA (the day after D2 in Shanghai)    outside the period
    cart     D1 05:10 m1 TEA 0->1                             D1 tea, 1 add, 1 unit
             D2 01:10 m1 TEA 0->2, 01:20 2->1 (no add)        D2 tea, 1 add, 2 units
             D2 01:25 m1 CUP 0->1                             D2 teaware, 1 add, 1 unit
             D2 03:10 m2 TEA 0->1, delivered twice            D2 tea, 1 add, 1 unit
             D2 03:20 m2 CUP 0->5, 03:30 5->0 (removed)       D2 teaware, 1 add, 5 units
             D2 03:40 m2 GHOST 0->1 (a SKU of no product)     D2 uncategorised, 1 add, 1 unit
    """
    m, d1, d2, send = ids, d.first, d.second, a.deliver
    tea, cup, ghost = ids["TEA"], ids["CUP"], ids["GHOST"]
    p_tea, p_cup, p_ghost = ids["P-TEA"], ids["P-CUP"], ids["P-GHOST"]
    for product, skus, when, member in (
        (p_tea, [tea], d.at(d1, 5), None),
        (p_cup, [cup], d.at(d1, 17), m["m2"]),
        (p_tea, [tea], d.at(d2, 1), m["m1"]),
        (p_tea, [tea], d.at(d2, 1, 5), m["m1"]),
        (p_tea, [tea], d.at(d2, 1, 30), None),
        (p_ghost, [ghost], d.at(d2, 2), None),
        (p_cup, [cup], d.at(d2, 3), m["m2"]),
        (p_tea, [tea], d.at(d2, 20), None),
    ):
        await send(viewed(product, skus, when, member), when)
    twice = viewed(p_tea, [tea], d.at(d2, 3), m["m2"])
    first = await send(twice, d.at(d2, 3))
    await send(twice, d.at(d2, 3), event_id=first.id)
    for member, sku, before, after, when in (
        (m["m1"], tea, 0, 1, d.at(d1, 5, 10)),
        (m["m1"], tea, 0, 2, d.at(d2, 1, 10)),
        (m["m1"], tea, 2, 1, d.at(d2, 1, 20)),
        (m["m1"], cup, 0, 1, d.at(d2, 1, 25)),
        (m["m2"], cup, 0, 5, d.at(d2, 3, 20)),
        (m["m2"], cup, 5, 0, d.at(d2, 3, 30)),
        (m["m2"], ghost, 0, 1, d.at(d2, 3, 40)),
    ):
        await send(cart(member, sku, before, after, when), when)
    added = cart(m["m2"], tea, 0, 1, d.at(d2, 3, 10))
    first = await send(added, d.at(d2, 3, 10))
    await send(added, d.at(d2, 3, 10), event_id=first.id)


def fresh_ids() -> dict[str, str]:
    tag = uuid.uuid4().hex[:8]
    names = [
        "O1",
        "O2",
        "O3",
        "O4",
        "O5",
        "O6",
        "m1",
        "m2",
        "P-TEA",
        "P-CUP",
        "P-GHOST",
        "W1",
        "W2",
    ]
    ids = {name: f"{name}-{tag}" for name in names}
    ids["TEA"], ids["CUP"], ids["GHOST"] = f"TEA-{tag}", f"CUP-{tag}", f"GHOST-{tag}"
    return ids
