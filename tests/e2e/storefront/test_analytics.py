"""The analytics service in the launched suite, seen through the gateway only: a scripted day
of storefront traffic (product views, anonymous and as members; cart adds, a decrease and a
removal; orders paid, declined, cancelled after payment, and delivered then returned) shows in
the admin KPIs (docs/kpis.md) within seconds, with every figure computed here by hand;
`python -m analytics_service rebuild` then gives the same figures."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from .conftest import Member, Storefront, eventually

pytestmark = pytest.mark.integration

PRICE = 5_000  # CNY fen: the figures must not depend on any currency conversion
CATEGORY = "storefront-e2e"


async def kpis(shop: Storefront, path: str, **params: Any) -> Any:
    response = await shop.http.get(
        f"/api/v1/admin/analytics{path}", params=params, headers=shop.admin
    )
    assert response.status_code == 200, response.text
    return response.json()


def picked(figures: dict[str, Any], expected: dict[str, Any]) -> dict[str, Any]:
    """The fields of `figures` that `expected` names (points and coupons are not this day's)."""
    return {name: figures.get(name) for name in expected}


def steps(funnel: list[dict[str, Any]]) -> list[tuple[str, int, float | None]]:
    return [(s["step"], s["count"], s["rate"]) for s in funnel]


async def view(
    shop: Storefront, product_id: str, member: Member | None = None, **query: str
) -> None:
    """One storefront read of the product page: one view (at most once, docs/kpis.md)."""
    headers = member.headers if member is not None else {}
    read = await shop.http.get(f"/api/v1/products/{product_id}", params=query, headers=headers)
    assert read.status_code == 200, read.text


async def cart_put(shop: Storefront, member: Member, sku: str, quantity: int) -> dict[str, Any]:
    answer = await shop.http.put(
        f"/api/v1/cart/items/{sku}", json={"quantity": quantity}, headers=member.headers
    )
    assert answer.status_code == 200, answer.text
    cart: dict[str, Any] = answer.json()
    return cart


async def test_a_scripted_day_through_the_gateway_shows_in_the_kpis(
    storefront: Storefront,
) -> None:
    shop = storefront
    product_id, sku = await shop.product_and_sku(price=PRICE, stock=10)
    ana = await shop.register("Ana")
    bo = await shop.register("Bo")

    # Views: two anonymous reads, one by each member (Bo's names the SKU he picked).
    await view(shop, product_id)
    await view(shop, product_id)
    await view(shop, product_id, ana)
    await view(shop, product_id, bo, sku=sku)

    # Cart changes: Ana adds one (0 -> 1, once the order service has heard of the SKU); Bo
    # adds one (0 -> 1), raises it to three (1 -> 3: an add of two units), lowers it to two
    # (no add) and removes the line (no add, and it takes no earlier add back).
    await shop.add_to_cart(ana, sku)
    await shop.add_to_cart(bo, sku)
    await cart_put(shop, bo, sku, 3)
    assert [line["quantity"] for line in (await cart_put(shop, bo, sku, 2))["items"]] == [2]
    removed = await shop.http.delete(f"/api/v1/cart/items/{sku}", headers=bo.headers)
    assert removed.status_code == 200 and removed.json()["items"] == [], removed.text

    # Orders: Ana's two units paid; her second order paid, then cancelled (refunded); her
    # third declined by the card; Bo's order paid, shipped, delivered, then returned.
    paid = await shop.place_accepted(ana, sku, quantity=2)
    await shop.settled(ana, paid, "payment.payment.captured", "inventory.stock.committed")
    cancelled = await shop.place_accepted(ana, sku)
    await shop.settled(ana, cancelled, "payment.payment.captured")
    answer = await shop.http.post(f"/api/v1/orders/{cancelled}/cancel", headers=ana.headers)
    assert answer.status_code == 202, answer.text
    await shop.settled(ana, cancelled, "payment.payment.refunded", "inventory.stock.released")
    declined = await shop.place_accepted(ana, sku, payment_token="tok_chargeDeclined")
    await shop.settled(ana, declined, "inventory.stock.released")
    returned = await shop.place_accepted(bo, sku)
    await shop.settled(bo, returned, "payment.payment.captured", "inventory.stock.committed")
    for action in ("ship", "deliver"):
        moved = await shop.http.post(
            f"/api/v1/admin/orders/{returned}/{action}", headers=shop.admin
        )
        assert moved.status_code == 202, moved.text
    answer = await shop.http.post(f"/api/v1/orders/{returned}/returns", headers=bo.headers)
    assert answer.status_code == 202, answer.text
    order = await shop.settled(
        bo, returned, "order.order.returned", "payment.payment.refunded", "inventory.stock.released"
    )
    assert order["status"] == "REFUNDED"

    # By hand. Paid: Ana's 2 units (10000) and 1 unit (5000), Bo's 1 unit (5000): 3 orders,
    # 4 units, GMV 20000. Refunded: the cancelled order's 5000 and the returned one's 5000.
    # Placed: those 3 and the declined one. Views 4; cart adds 3 (Ana's, Bo's two increases)
    # of 1 + 1 + 2 = 4 units. On hand: counted 10, 4 committed, the cancelled and returned
    # units back: 8. The API rounds rates to four places. The reporting days
    # around now, so that a test across Shanghai's midnight still sees all of it: a period
    # of two days.
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    period = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    funnel_steps = [
        ("views", 4, None),
        ("cart_adds", 3, 0.75),  # 3 / 4
        ("orders_placed", 4, 1.3333),  # 4 / 3: counts of the period, not one shopper's path
        ("orders_paid", 3, 0.75),  # 3 / 4
    ]
    expected_totals = {
        "gmv": 20_000,
        "refund_amount": 10_000,
        "net_gmv": 10_000,
        "orders_placed": 4,
        "orders_paid": 3,
        "placed_to_paid_rate": 0.75,
        "paying_members": 2,
        "aov": 6_667,  # 20000 / 3, half to even
        "gmv_per_paying_member": 10_000,
        "active_members": 2,
        "new_members": 2,
        # Members with a kept paid order: Ana only (Bo's was returned), none with two.
        "repurchase_rate": 0.0,
        "returns": 1,
        "return_rate": 0.3333,  # 1 returned / 3 paid
        "return_amount_rate": 0.25,  # 5000 / 20000
    }
    report = await eventually(
        lambda: kpis(shop, "/kpis", **period),
        lambda r: picked(r["totals"], expected_totals) == expected_totals,
        timeout=20,
    )
    assert picked(report["totals"], expected_totals) == expected_totals
    assert report["status_flow"] == {
        "placed": 4,
        "confirmed": 3,
        "rejected": {"PAYMENT_DECLINED": 1},
        "cancelled": {"CANCELLED_BY_CUSTOMER": 1},
        "cancelled_after_payment": 1,
        "returned": 1,
    }
    (category,) = [c for c in report["categories"] if c["category"] == CATEGORY]
    assert category == {
        "category": CATEGORY,
        "gmv": 20_000,
        "net_gmv": 10_000,
        "refund_amount": 10_000,
        "orders_paid": 3,
        "units_sold": 4,
        "returns": 1,
    }

    # Views are published at most once, batched: in a healthy suite they arrive, so wait.
    funnel = await eventually(
        lambda: kpis(shop, "/funnel", **period),
        lambda f: steps(f["steps"]) == funnel_steps and f["units_added"] == 4,
        timeout=20,
    )
    assert (steps(funnel["steps"]), funnel["units_added"], funnel["missing"]) == (
        funnel_steps,
        4,
        [],
    )
    (category_funnel,) = [c for c in funnel["categories"] if c["category"] == CATEGORY]
    assert (steps(category_funnel["steps"]), category_funnel["units_added"]) == (funnel_steps, 4)

    expected_sku = {
        "product_id": product_id,
        "category": CATEGORY,
        "units_sold": 4,  # every unit paid, the cancelled and returned ones included
        "units_returned": 2,  # the cancelled order's unit and the returned one
        "gmv": 20_000,
        "on_hand": 8,
        "safety_stock": 5,
        "low": False,
        "sell_through": 0.3333,  # 4 sold / (4 sold + 8 on hand)
        "turnover_days": 4.0,  # 8 on hand / (4 sold / 2 days)
        "units_added": 4,
    }
    figures = await eventually(
        lambda: kpis(shop, f"/skus/{sku}", **period),
        lambda s: picked(s, expected_sku) == expected_sku,
        timeout=20,
    )
    assert picked(figures, expected_sku) == expected_sku
    assert steps(figures["funnel"]) == funnel_steps  # the views of its product: all four
    # Per day (one day, or two across Shanghai's midnight), adding up to the period.
    days = figures["days"]
    assert sum(d["views"] for d in days) == 4 and sum(d["cart_adds"] for d in days) == 3
    assert sum(d["units_sold"] for d in days) == 4 and sum(d["gmv"] for d in days) == 20_000

    (top,) = (await kpis(shop, "/top-products", **period))["items"]
    assert (top["product_id"], top["units_sold"], top["units_returned"], top["gmv"]) == (
        product_id,
        4,
        2,
        20_000,
    )
    csv = await shop.http.get(
        "/api/v1/admin/analytics/kpis", params={**period, "format": "csv"}, headers=shop.admin
    )
    assert csv.status_code == 200 and csv.text.splitlines()[-1].startswith("total,20000,")

    refused = await shop.http.get(
        "/api/v1/admin/analytics/kpis",
        params={"from": "2026-12-05", "to": "2026-12-01"},
        headers=shop.admin,
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    customer = await shop.http.get("/api/v1/admin/analytics/low-stock", headers=ana.headers)
    assert customer.status_code == 403

    # The rebuild as an operator runs it (docs/kpis.md), with the service's database and broker
    # and the service still running: the projection emptied, every topic replayed from offset
    # 0, and the same figures after.
    before = {
        "kpis": await kpis(shop, "/kpis", **period),
        "sku": await kpis(shop, f"/skus/{sku}", **period),
        "top": await kpis(shop, "/top-products", **period),
        "funnel": await kpis(shop, "/funnel", **period),
    }
    database = shop.engines["analytics"].url.render_as_string(hide_password=False)
    command = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "analytics_service",
        "rebuild",
        env={
            **os.environ,
            "ANALYTICS_DATABASE_URL": database,
            "KAFKA_BOOTSTRAP_SERVERS": shop.suite.kafka_bootstrap,
        },
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    output, _ = await asyncio.wait_for(command.communicate(), timeout=120)
    printed = output.decode()
    assert command.returncode == 0, printed
    assert "events (100%)" in printed and "caught up in" in printed, printed
    after = {
        "kpis": await kpis(shop, "/kpis", **period),
        "sku": await kpis(shop, f"/skus/{sku}", **period),
        "top": await kpis(shop, "/top-products", **period),
        "funnel": await kpis(shop, "/funnel", **period),
    }
    assert after == before
