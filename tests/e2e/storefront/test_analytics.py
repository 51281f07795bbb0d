"""The analytics service in the launched suite, seen through the gateway only: orders placed,
paid, declined and cancelled through the storefront API show in the admin KPIs (docs/kpis.md)
within seconds, with the figures computed here by hand; `python -m analytics_service rebuild`
then gives the same figures."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from .conftest import Storefront, eventually

pytestmark = pytest.mark.integration

PRICE = 5_000  # CNY fen


async def kpis(shop: Storefront, path: str, **params: Any) -> Any:
    response = await shop.http.get(
        f"/api/v1/admin/analytics{path}", params=params, headers=shop.admin
    )
    assert response.status_code == 200, response.text
    return response.json()


async def test_orders_through_the_gateway_show_in_the_kpis(storefront: Storefront) -> None:
    shop = storefront
    sku = await shop.product(price=PRICE, stock=10)
    member = await shop.register("Ana")
    await shop.add_to_cart(member, sku)  # the order service has heard of the SKU

    paid = await shop.place_accepted(member, sku, quantity=2)
    await shop.settled(member, paid, "payment.payment.captured", "inventory.stock.committed")
    cancelled = await shop.place_accepted(member, sku)
    await shop.settled(member, cancelled, "payment.payment.captured")
    answer = await shop.http.post(f"/api/v1/orders/{cancelled}/cancel", headers=member.headers)
    assert answer.status_code == 202, answer.text
    await shop.settled(member, cancelled, "payment.payment.refunded", "inventory.stock.released")
    declined = await shop.place_accepted(member, sku, payment_token="tok_chargeDeclined")
    await shop.settled(member, declined, "inventory.stock.released")

    # By hand: 2 + 1 units paid (15000), the second order's 5000 refunded when it was
    # cancelled; the declined order placed but never paid. On hand: counted 10, 3 committed,
    # the cancelled order's 1 back: 8. The reporting days around now, so that a test across
    # Shanghai's midnight still sees all of it.
    today = datetime.now(UTC).astimezone(ZoneInfo("Asia/Shanghai")).date()
    period = {"from": (today - timedelta(days=1)).isoformat(), "to": today.isoformat()}
    figures = await eventually(
        lambda: kpis(shop, f"/skus/{sku}", **period),
        lambda s: s["units_returned"] == 1 and s["on_hand"] == 8,
        timeout=20,
    )
    assert (figures["units_sold"], figures["units_returned"], figures["gmv"]) == (3, 1, 15_000)
    assert (figures["on_hand"], figures["category"], figures["low"]) == (8, "storefront-e2e", False)

    report = await eventually(
        lambda: kpis(shop, "/kpis", **period),
        lambda r: r["status_flow"]["rejected"] == {"PAYMENT_DECLINED": 1},
        timeout=20,
    )
    (category,) = [c for c in report["categories"] if c["category"] == "storefront-e2e"]
    assert category == {
        "category": "storefront-e2e",
        "gmv": 15_000,
        "net_gmv": 10_000,
        "refund_amount": 5_000,
        "orders_paid": 2,
        "units_sold": 3,
        "returns": 0,
    }
    totals = report["totals"]
    assert (totals["orders_placed"], totals["orders_paid"], totals["gmv"]) == (3, 2, 15_000)
    assert (totals["refund_amount"], totals["net_gmv"], totals["aov"]) == (5_000, 10_000, 7_500)
    assert (totals["paying_members"], totals["new_members"]) == (1, 1)
    assert report["status_flow"]["cancelled"] == {"CANCELLED_BY_CUSTOMER": 1}
    assert report["status_flow"]["cancelled_after_payment"] == 1

    funnel = await kpis(shop, "/funnel", **period)
    assert [(s["step"], s["count"]) for s in funnel["steps"]][2:] == [
        ("orders_placed", 3),
        ("orders_paid", 2),
    ]
    csv = await shop.http.get(
        "/api/v1/admin/analytics/kpis", params={**period, "format": "csv"}, headers=shop.admin
    )
    assert csv.status_code == 200 and csv.text.splitlines()[-1].startswith("total,15000,")

    refused = await shop.http.get(
        "/api/v1/admin/analytics/kpis",
        params={"from": "2026-12-05", "to": "2026-12-01"},
        headers=shop.admin,
    )
    assert refused.status_code == 422
    assert refused.headers["content-type"].startswith("application/problem+json")
    customer = await shop.http.get("/api/v1/admin/analytics/low-stock", headers=member.headers)
    assert customer.status_code == 403

    # The rebuild as an operator runs it (docs/kpis.md), with the service's database and broker
    # and the service still running: the projection emptied, every topic replayed from offset
    # 0, and the same figures after.
    before = {
        "kpis": await kpis(shop, "/kpis", **period),
        "sku": await kpis(shop, f"/skus/{sku}", **period),
        "top": await kpis(shop, "/top-products", **period),
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
    }
    assert after == before
