"""The funnel from the events: the scripted days' orders (conftest.scripted_days) with their
views and cart changes (conftest.scripted_interest), the API's funnel and one SKU's against
the numbers computed by hand here; on PostgreSQL and on SQLite. A view or cart change
delivered twice counts once; a view near midnight UTC lands on its Shanghai day."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest

from shared_events.topics import CATALOG_VIEWS

from .conftest import (
    Analytics,
    Days,
    days_before_today,
    fresh_ids,
    scripted_days,
    scripted_interest,
    stamped,
    viewed,
)

pytestmark = pytest.mark.integration

# D2 by hand:
#   views      tea 4 (m1 twice, anonymous, m2 once of two deliveries), teaware 2 (m2 at D1
#              17:00 UTC = D2 in Shanghai, m2 at 03:00), uncategorised 1 (P-GHOST)      = 7
#   cart adds  tea 2 (m1 0->2, m2 0->1 delivered twice; m1's 2->1 is no add), teaware 2
#              (m1 0->1, m2 0->5; its removal is no add), uncategorised 1 (GHOST)        = 5
#   units      tea 2 + 1, teaware 1 + 5, uncategorised 1                                 = 10
#   placed     O1 (tea + teaware), O2 (tea), O3 (teaware), O4 (tea)                      = 4
#   paid       O1, O2, O4 (O3 rejected)                                                  = 3
D2_STEPS = [
    ("views", 7, None),
    ("cart_adds", 5, 0.7143),  # 5 / 7
    ("orders_placed", 4, 0.8),  # 4 / 5
    ("orders_paid", 3, 0.75),
]
D2_CATEGORIES = {
    "tea": ([(4, None), (2, 0.5), (3, 1.5), (3, 1.0)], 3),
    "teaware": ([(2, None), (2, 1.0), (2, 1.0), (1, 0.5)], 6),
    "uncategorised": ([(1, None), (1, 1.0), (0, 0.0), (0, None)], 1),
}
# D1..D2: D1 adds a tea view, a tea cart add (1 unit), O5 (tea) and O6 (teaware) placed and paid.
PERIOD_STEPS = [
    ("views", 8, None),
    ("cart_adds", 6, 0.75),
    ("orders_placed", 6, 1.0),
    ("orders_paid", 5, 0.8333),
]
PERIOD_CATEGORIES = {
    "tea": ([(5, None), (3, 0.6), (4, 1.3333), (4, 1.0)], 4),
    "teaware": ([(2, None), (2, 1.0), (3, 1.5), (2, 0.6667)], 6),
    "uncategorised": ([(1, None), (1, 1.0), (0, 0.0), (0, None)], 1),
}


async def scripted(analytics: Analytics) -> tuple[Days, dict[str, str]]:
    days, ids = days_before_today(2), fresh_ids()
    await scripted_days(analytics, days, ids)
    await scripted_interest(analytics, days, ids)
    # O2's confirmation, a view and a cart add: each delivered twice, each applied once.
    assert analytics.harness.outcomes.count("duplicate") == 3
    assert set(analytics.harness.outcomes) == {"handled", "duplicate"}
    assert analytics.harness.dead_letters == []
    return days, ids


def steps(funnel: dict[str, Any]) -> list[tuple[str, int | None, float | None]]:
    return [(s["step"], s["count"], s["rate"]) for s in funnel["steps"]]


def categories(report: dict[str, Any]) -> dict[str, Any]:
    return {
        c["category"]: ([(s["count"], s["rate"]) for s in c["steps"]], c["units_added"])
        for c in report["categories"]
    }


def one_day(days: Days) -> dict[str, str]:
    return {"from": days.second.isoformat(), "to": days.second.isoformat()}


async def test_the_funnel_from_views_to_paid_orders(analytics: Analytics) -> None:
    days, _ = await scripted(analytics)
    d2 = await analytics.json("/funnel", **one_day(days))
    assert steps(d2) == D2_STEPS
    assert (d2["units_added"], d2["missing"]) == (10, [])
    assert categories(d2) == D2_CATEGORIES

    both = await analytics.json(
        "/funnel", **{"from": days.first.isoformat(), "to": days.second.isoformat()}
    )
    assert steps(both) == PERIOD_STEPS
    assert both["units_added"] == 11
    assert categories(both) == PERIOD_CATEGORIES


async def test_the_funnel_as_csv(analytics: Analytics) -> None:
    days, _ = await scripted(analytics)
    response = await analytics.get("/funnel", format="csv", **one_day(days))
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(response.text)))
    assert [(r["category"], r["step"], r["count"], r["rate"]) for r in table[:4]] == [
        ("", "views", "7", ""),
        ("", "cart_adds", "5", "0.7143"),
        ("", "orders_placed", "4", "0.8"),
        ("", "orders_paid", "3", "0.75"),
    ]
    assert [(r["category"], r["count"]) for r in table[4:] if r["step"] == "cart_adds"] == [
        ("tea", "2"),
        ("teaware", "2"),
        ("uncategorised", "1"),
    ]


async def test_one_sku_from_views_to_paid_orders(analytics: Analytics) -> None:
    days, ids = await scripted(analytics)
    both = {"from": days.first.isoformat(), "to": days.second.isoformat()}
    tea = await analytics.json(f"/skus/{ids['TEA']}", **both)
    # Views of P-TEA 1 + 4, TEA's cart adds 1 + 2 (units 1 + 3), orders with TEA placed
    # O5 | O1, O2, O4 and paid the same.
    assert [(s["step"], s["count"], s["rate"]) for s in tea["funnel"]] == [
        ("views", 5, None),
        ("cart_adds", 3, 0.6),
        ("orders_placed", 4, 1.3333),
        ("orders_paid", 4, 1.0),
    ]
    assert tea["units_added"] == 4
    funnel_days = [
        (d["views"], d["cart_adds"], d["units_added"], d["orders_placed"], d["orders_paid"])
        for d in tea["days"]
    ]
    assert funnel_days == [(1, 1, 1, 1, 1), (4, 2, 3, 3, 3)]

    response = await analytics.get(f"/skus/{ids['CUP']}", format="csv", **both)
    table = list(csv.DictReader(io.StringIO(response.text)))
    # CUP-1: views of P-CUP 0 | 2; adds 0 | 2 (units 6); placed O6 | O1, O3; paid O6 | O1.
    assert [
        (r["views"], r["cart_adds"], r["units_added"], r["orders_placed"], r["orders_paid"])
        for r in table
    ] == [("0", "0", "0", "1", "1"), ("2", "2", "6", "2", "1")]


async def test_the_views_of_one_poll_are_counted_together(analytics: Analytics) -> None:
    days = days_before_today(9)
    ids = fresh_ids()
    tea, pot = ids["P-TEA"], ids["P-CUP"]
    first = stamped(viewed(tea, [], days.at(days.second, 3), "m1"), days.at(days.second, 3))
    poll = [
        first,
        stamped(viewed(tea, [], days.at(days.second, 4), None), days.at(days.second, 4)),
        first,  # the same record twice in one poll: counted once
        stamped(viewed(pot, [], days.at(days.second, 5), "m2"), days.at(days.second, 5)),
        # 17:00 UTC the day before is this day in Shanghai
        stamped(viewed(tea, [], days.at(days.first, 17), "m2"), days.at(days.first, 17)),
        stamped(viewed(pot, [], days.at(days.first, 3), "m2"), days.at(days.first, 3)),
    ]
    await analytics.deliver_poll(CATALOG_VIEWS, poll)
    assert steps(await analytics.json("/funnel", **one_day(days)))[0] == ("views", 4, None)
    previous = {"from": days.first.isoformat(), "to": days.first.isoformat()}
    assert steps(await analytics.json("/funnel", **previous))[0] == ("views", 1, None)

    # The next poll adds to the counts the first one wrote.
    later = stamped(viewed(pot, [], days.at(days.second, 9), None), days.at(days.second, 9))
    await analytics.deliver_poll(CATALOG_VIEWS, [later])
    assert steps(await analytics.json("/funnel", **one_day(days)))[0] == ("views", 5, None)
