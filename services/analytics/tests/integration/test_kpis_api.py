"""Two scripted days of events in (conftest.scripted_days), the API's figures out, against the
numbers computed by hand here; on PostgreSQL and on SQLite. An event delivered twice counts
once, late events land on their own day, an older stock count does not replace a newer one."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from .conftest import Analytics, Days, days_before_today, fresh_ids, scripted_days

pytestmark = pytest.mark.integration

# D2 by hand (CNY fen):
#   GMV       O1 12000 + O2 7100 (10.00 USD at 7.10) + O4 5000          = 24100
#   refunds   O4 5000 (cancelled after payment) + O5 5000 (returned)    = 10000
#   paid 3 of placed 4 (O3 rejected); paying members m1, m2; AOV 24100/3 = 8033.33 -> 8033
#   kept paid orders: m1 O1 (O4 cancelled), m2 O2: nobody twice -> repurchase 0
#   returns 1 (O5, paid on D1) per 3 paid; by amount 5000/24100 = 0.2075
# D1: O6 3000 + O5 5000 = 8000, both paid; m1 registered, coupon W1 issued (redeemed by O1).
D2_TOTALS = {
    "gmv": 24100,
    "net_gmv": 14100,
    "refund_amount": 10000,
    "orders_placed": 4,
    "orders_paid": 3,
    "placed_to_paid_rate": 0.75,
    "paying_members": 2,
    "aov": 8033,
    "gmv_per_paying_member": 12050,
    "active_members": 2,
    "new_members": 1,
    "repurchase_rate": 0.0,
    "returns": 1,
    "return_rate": 0.3333,
    "return_amount_rate": 0.2075,
    "coupons_issued": 1,
    "coupons_redeemed": 0,
    "coupon_redemption_rate": 0.0,
    "points_issued": 120,
    "points_redeemed": 0,  # 300 redeemed for O1, 300 given back on O4's cancellation
    "points_expired": 0,
}
# D1..D2: GMV 32100 over 5 paid orders (AOV 6420); m2 kept O6 and O2 -> repurchase 1 of 2.
PERIOD_TOTALS = {
    **D2_TOTALS,
    "gmv": 32100,
    "net_gmv": 22100,
    "orders_placed": 6,
    "orders_paid": 5,
    "placed_to_paid_rate": 0.8333,
    "aov": 6420,
    "gmv_per_paying_member": 16050,
    "new_members": 2,
    "repurchase_rate": 0.5,
    "return_rate": 0.2,
    "return_amount_rate": 0.1558,
    "coupons_issued": 2,
    "coupons_redeemed": 1,
    "coupon_redemption_rate": 0.5,
}


async def scripted(analytics: Analytics) -> tuple[Days, dict[str, str]]:
    days, ids = days_before_today(2), fresh_ids()
    await scripted_days(analytics, days, ids)
    assert analytics.harness.outcomes.count("duplicate") == 1  # O2's confirmation, twice
    assert set(analytics.harness.outcomes) == {"handled", "duplicate"}
    assert analytics.harness.dead_letters == []
    return days, ids


def period(days: Days) -> dict[str, str]:
    return {"from": days.first.isoformat(), "to": days.second.isoformat()}


async def test_the_kpis_of_two_scripted_days(analytics: Analytics) -> None:
    days, _ = await scripted(analytics)
    report = await analytics.json("/kpis", **period(days))
    assert (report["from"], report["to"]) == (days.first.isoformat(), days.second.isoformat())
    assert (report["time_zone"], report["currency"], report["granularity"]) == (
        "Asia/Shanghai",
        "CNY",
        "day",
    )
    assert report["totals"] == PERIOD_TOTALS
    first, second = report["buckets"]
    assert first["start"] == days.first.isoformat()
    assert (first["gmv"], first["orders_paid"], first["new_members"]) == (8000, 2, 1)
    assert (first["coupons_issued"], first["coupons_redeemed"]) == (1, 1)
    assert {k: v for k, v in second.items() if k != "start"} == D2_TOTALS
    assert report["tiers"] == {"BRONZE": 1, "SILVER": 1}

    one_day = await analytics.json(
        "/kpis", **{"from": days.second.isoformat(), "to": days.second.isoformat()}
    )
    assert one_day["totals"] == D2_TOTALS
    # By category on D2: O1's 12000 split 9231 (TEA 10000 of 13000) + 2769 (CUP).
    assert one_day["categories"] == [
        {
            "category": "tea",
            "gmv": 21331,
            "net_gmv": 11331,
            "refund_amount": 10000,
            "orders_paid": 3,
            "units_sold": 4,
            "returns": 1,
        },
        {
            "category": "teaware",
            "gmv": 2769,
            "net_gmv": 2769,
            "refund_amount": 0,
            "orders_paid": 1,
            "units_sold": 1,
            "returns": 0,
        },
    ]
    assert one_day["status_flow"] == {
        "placed": 4,
        "confirmed": 3,
        "rejected": {"OUT_OF_STOCK": 1},
        "cancelled": {"CANCELLED_BY_CUSTOMER": 1},
        "cancelled_after_payment": 1,
        "returned": 1,
    }


async def test_gmv_per_hour_of_the_reporting_zone(analytics: Analytics) -> None:
    days, _ = await scripted(analytics)
    day = days.second.isoformat()
    report = await analytics.json("/kpis", **{"from": day, "to": day, "granularity": "hour"})
    gmv = {b["start"]: b["gmv"] for b in report["buckets"] if b["gmv"]}
    # Paid at 02:01, 04:01 and 06:01 UTC: 10:01, 12:01 and 14:01 in Shanghai.
    assert gmv == {f"{day}T10:00": 12000, f"{day}T12:00": 7100, f"{day}T14:00": 5000}
    assert len(report["buckets"]) == 24


async def test_a_funnel_without_views_or_cart_adds_counts_them_zero(analytics: Analytics) -> None:
    days, _ = await scripted(analytics)
    day = days.second.isoformat()
    funnel = await analytics.json("/funnel", **{"from": day, "to": day})
    assert [(s["step"], s["count"], s["rate"]) for s in funnel["steps"]] == [
        ("views", 0, None),
        ("cart_adds", 0, None),
        ("orders_placed", 4, None),  # 4 / 0 cart adds: no rate
        ("orders_paid", 3, 0.75),
    ]
    assert (funnel["missing"], funnel["units_added"]) == ([], 0)


async def test_one_sku_and_the_stock_lists(analytics: Analytics) -> None:
    days, ids = await scripted(analytics)
    tea = await analytics.json(f"/skus/{ids['TEA']}", **period(days))
    # On hand: the D2 01:00 count (20; the older count of 99 arrived later and lost), minus
    # O1 2, O2 1, O4 1 committed after it, plus O4's and O5's units back: 18. O5's D1 commit
    # is before the count, which already holds it.
    assert tea["on_hand"] == 18
    assert (tea["category"], tea["product_id"], tea["safety_stock"], tea["low"]) == (
        "tea",
        ids["P-TEA"],
        5,
        False,
    )
    sales = [(d["day"], d["units_sold"], d["units_returned"], d["gmv"]) for d in tea["days"]]
    assert sales == [
        (days.first.isoformat(), 1, 0, 5000),
        (days.second.isoformat(), 4, 2, 21331),
    ]
    assert (tea["units_sold"], tea["units_returned"], tea["gmv"]) == (5, 2, 26331)
    assert tea["sell_through"] == 0.2174  # 5 / (5 + 18)
    assert tea["turnover_days"] == 7.2  # 18 / (5 sold / 2 days)
    assert tea["last_sold_at"].startswith(f"{days.second.isoformat()}T06:01")

    low = await analytics.json("/low-stock")
    # CUP-1: counted 4 on D2, O1 took 1: 3, under its published safety stock of 5.
    assert low["items"] == [
        {"sku": ids["CUP"], "category": "teaware", "on_hand": 3, "safety_stock": 5}
    ]
    slow = await analytics.json("/slow-moving", days=1)
    assert {item["sku"] for item in slow["items"]} == {ids["TEA"], ids["CUP"]}
    assert all(item["days_without_sale"] >= 1 for item in slow["items"])
    assert (await analytics.json("/slow-moving", days=30))["items"] == []

    missing = await analytics.get("/skus/NO-SUCH-SKU")
    assert missing.status_code == 404
    assert missing.headers["content-type"].startswith("application/problem+json")


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_every_report_as_csv(analytics: Analytics) -> None:
    days, ids = await scripted(analytics)
    response = await analytics.get("/kpis", format="csv", **period(days))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    assert "attachment" in response.headers["content-disposition"]
    table = rows(response.text)
    assert [(r["start"], r["gmv"], r["aov"]) for r in table] == [
        (days.first.isoformat(), "8000", "4000"),
        (days.second.isoformat(), "24100", "8033"),
        ("total", "32100", "6420"),
    ]
    funnel = rows((await analytics.get("/funnel", format="csv", **period(days))).text)
    assert [(r["step"], r["count"], r["rate"]) for r in funnel if not r["category"]] == [
        ("views", "0", ""),
        ("cart_adds", "0", ""),
        ("orders_placed", "6", ""),
        ("orders_paid", "5", "0.8333"),
    ]
    sku = rows((await analytics.get(f"/skus/{ids['TEA']}", format="csv", **period(days))).text)
    assert [r["units_sold"] for r in sku] == ["1", "4"]
    low = rows((await analytics.get("/low-stock", format="csv")).text)
    assert [(r["sku"], r["on_hand"]) for r in low] == [(ids["CUP"], "3")]
    slow = rows((await analytics.get("/slow-moving", format="csv", days=1)).text)
    assert {r["sku"] for r in slow} == {ids["TEA"], ids["CUP"]}


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"from": "2026-12-05", "to": "2026-12-01"}, "reversed-period"),
        ({"from": "2026-12-01", "to": "2026-12-01", "granularity": "week"}, "unknown-granularity"),
        ({"from": "2024-01-01", "to": "2026-12-01"}, "period-too-long"),
        ({"from": "2026-10-01", "to": "2026-12-01", "granularity": "hour"}, "period-too-long"),
        ({"from": "9999-12-31", "to": "9999-12-31"}, "period-out-of-range"),
    ],
)
async def test_periods_the_api_refuses_are_problem_422(
    analytics: Analytics, params: dict[str, Any], code: str
) -> None:
    response = await analytics.get("/kpis", **params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert code in response.text
    reversed_funnel = await analytics.get("/funnel", **{"from": "2026-12-05", "to": "2026-12-01"})
    assert reversed_funnel.status_code == 422


async def test_the_api_is_for_admins_only(analytics: Analytics) -> None:
    paths = ("/kpis", "/funnel", "/low-stock", "/slow-moving", "/skus/TEA-1", "/top-products")
    for path in (*paths, "/dashboard"):
        anonymous = await analytics.http.get(f"/api/v1/admin/analytics{path}")
        customer = await analytics.http.get(
            f"/api/v1/admin/analytics{path}", headers=analytics.customer
        )
        assert (anonymous.status_code, customer.status_code) == (401, 403), path


async def test_top_products_by_gmv_of_the_units_paid(analytics: Analytics) -> None:
    days, ids = await scripted(analytics)
    # TEA (P-TEA): 5 units paid, 26331 fen (the SKU report's figures above); CUP (P-CUP):
    # O6's 3000 and its 2769 share of O1 (32100 of GMV in all), 2 units, none given back.
    report = await analytics.json("/top-products", **period(days))
    assert report["items"] == [
        {
            "product_id": ids["P-TEA"],
            "name": "P-TEA",
            "category": "tea",
            "units_sold": 5,
            "units_returned": 2,
            "gmv": 26331,
        },
        {
            "product_id": ids["P-CUP"],
            "name": "P-CUP",
            "category": "teaware",
            "units_sold": 2,
            "units_returned": 0,
            "gmv": 5769,
        },
    ]
    assert sum(item["gmv"] for item in report["items"]) == PERIOD_TOTALS["gmv"]
    first = await analytics.json("/top-products", limit=1, **period(days))
    assert [item["product_id"] for item in first["items"]] == [ids["P-TEA"]]
    lines = (await analytics.get("/top-products", format="csv", **period(days))).text
    assert lines.splitlines()[1] == f"{ids['P-TEA']},P-TEA,tea,5,2,26331"
    # D2 alone: O1's TEA share 9231, O2 7100 and O4 5000 (21331, as the SKU's day says).
    second = await analytics.json("/top-products", **{"from": days.second, "to": days.second})
    assert [i["gmv"] for i in second["items"]] == [21331, 2769]


async def test_the_dashboard_answers_what_the_page_shows_in_one_request(
    analytics: Analytics,
) -> None:
    days, ids = await scripted(analytics)
    # The scripted days are two and three days before today: the last four days hold them.
    board = await analytics.json("/dashboard", days=4, granularity="day", top=1)
    assert board["kpis"]["totals"] == PERIOD_TOTALS
    assert board["kpis"]["granularity"] == "day" and len(board["kpis"]["buckets"]) == 4
    assert board["kpis"]["from"] == days.first.isoformat()
    assert [s["count"] for s in board["funnel"]["steps"]][2:] == [6, 5]
    assert [i["product_id"] for i in board["top_products"]["items"]] == [ids["P-TEA"]]
    assert ids["CUP"] in {item["sku"] for item in board["low_stock"]["items"]}
    today = await analytics.json("/dashboard")  # today, by hour: nothing happened yet
    assert today["kpis"]["granularity"] == "hour" and len(today["kpis"]["buckets"]) == 24
    assert today["kpis"]["totals"]["gmv"] == 0 and today["top_products"]["items"] == []
    too_long = await analytics.get("/dashboard", days=40, granularity="hour")
    assert too_long.status_code == 422 and "period-too-long" in too_long.text


async def test_the_ops_page_and_its_files_are_served_as_they_are(analytics: Analytics) -> None:
    page = await analytics.http.get("/ops")  # public: the page logs in by itself
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert 'src="/ops/dashboard.js"' in page.text
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "https:" not in csp
    script = await analytics.http.get("/ops/dashboard.js")
    assert script.headers["content-type"].startswith("text/javascript")
    assert "/api/v1/admin/analytics/dashboard" in script.text
    assert "http://" not in script.text.replace("http://www.w3.org/2000/svg", "")
    assert "https://" not in script.text  # nothing from a CDN: the page works offline
    style = await analytics.http.get("/ops/dashboard.css")
    assert style.headers["content-type"].startswith("text/css")
    for name in ("config.py", "..%2Fconfig.py", "index.htm", "static"):
        missing = await analytics.http.get(f"/ops/{name}")
        assert missing.status_code == 404, name
