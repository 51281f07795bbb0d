"""An order's per-SKU facts (units sold and given back, their GMV, the last sale) do not depend
on the order in which its events arrive: a `placed` applied after its order's confirmation,
return or cancellation (a dead-lettered `placed` replayed later, a rebuild beside the running
service) counts the lines those steps could not count, and each once; on PostgreSQL and SQLite.

Each case is one order of 3 units of its own SKU, 3000 fen, placed on D1 09:00 and confirmed
on D1 09:01 (UTC; the same day in Shanghai), its events delivered in every order:
  paid          placed, confirmed                                  D1: 3 sold, 3000
  returned      placed, confirmed, returned D2 02:00               D1: 3 sold, 3000; D2: 3 back
  cancelled     placed, confirmed, cancelled after payment D2 02:00 as returned
  paid in USD   10.00 USD placed, confirmed, authorised at 72.00 CNY (analytics' rate: 71.00)
                                                                   D1: 3 sold, 7200
and then its `placed` delivered again (the same event id: a duplicate) and published again (a new
event id: its lines are known already): nothing counted twice.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from itertools import permutations
from typing import Any

import pytest

from shared_events import Envelope, EventPayload
from shared_events.catalog import ProductCreatedV1, SkuSnapshot
from shared_events.order import OrderCancelledV1, OrderConfirmedV1, OrderReturnedV1
from shared_events.payment import PaymentAuthorizedV1

from .conftest import Analytics, Days, cny, days_before_today, fresh_ids, placed

pytestmark = pytest.mark.integration

KINDS = ("paid", "returned", "cancelled", "paid in USD")


@dataclass(frozen=True)
class Case:
    kind: str
    arrival: tuple[int, ...]  # the indexes of the order's events, in delivery order
    sku: str
    product: str
    order: str

    @property
    def label(self) -> str:
        return f"{self.kind} {self.arrival}"


def events_of(case: Case, d: Days, member: str) -> list[tuple[EventPayload, datetime]]:
    """The order's events with their times; `placed` first."""
    currency = "USD" if case.kind == "paid in USD" else "CNY"
    amount = 1000 if currency == "USD" else 3000
    order, line = case.order, (case.sku, case.product, 3, amount)
    events: list[tuple[EventPayload, datetime]] = [
        (placed(order, member, [line], d.at(d.first, 9), currency=currency), d.at(d.first, 9)),
        (
            OrderConfirmedV1(order_id=order, member_id=member, total=cny(amount, currency)),
            d.at(d.first, 9, 1),
        ),
    ]
    back_at = d.at(d.second, 2)
    if case.kind == "returned":
        returned = OrderReturnedV1(
            order_id=order, member_id=member, reason="RETURNED_BY_CUSTOMER", total=cny(amount)
        )
        events.append((returned, back_at))
    elif case.kind == "cancelled":
        cancelled = OrderCancelledV1(
            order_id=order, member_id=member, reason="CANCELLED_BY_CUSTOMER", was_confirmed=True
        )
        events.append((cancelled, back_at))
    elif case.kind == "paid in USD":
        authorized = PaymentAuthorizedV1(
            order_id=order, payment_id=f"pay-{order}", amount=cny(1000, "USD"), amount_cny=cny(7200)
        )
        events.append((authorized, d.at(d.first, 9, 1)))
    return events


def cases(ids: dict[str, str]) -> list[Case]:
    """Every kind in every order of arrival, each with its own order, SKU and product."""
    found = []
    for kind in KINDS:
        count = 2 if kind == "paid" else 3
        for arrival in permutations(range(count)):
            n = len(found)
            found.append(
                Case(kind, arrival, f"{ids['TEA']}-{n}", f"{ids['P-TEA']}-{n}", f"{ids['O1']}-{n}")
            )
    return found


def expected_days(case: Case, d: Days) -> list[tuple[str, int, int, int]]:
    """(day, units sold, units given back, GMV) of the case's SKU, each day of the period."""
    gmv = 7200 if case.kind == "paid in USD" else 3000
    back = 3 if case.kind in ("returned", "cancelled") else 0
    return [(d.first.isoformat(), 3, 0, gmv), (d.second.isoformat(), 0, back, 0)]


async def deliver_case(a: Analytics, case: Case, d: Days, member: str) -> None:
    await a.deliver(
        ProductCreatedV1(
            product_id=case.product,
            name=case.label,
            category="tea",
            skus=[SkuSnapshot(sku=case.sku, price=cny(1000))],
            status="PUBLISHED",
            version=1,
        ),
        d.at(d.first, 0),
    )
    events = events_of(case, d, member)
    sent: dict[int, Envelope] = {}
    for index in case.arrival:
        payload, at = events[index]
        sent[index] = await a.deliver(payload, at)
    placed_payload, placed_at = events[0]
    await a.deliver(placed_payload, placed_at, event_id=sent[0].id)  # redelivered
    await a.deliver(placed_payload, placed_at)  # the same order published again


async def test_sku_facts_do_not_depend_on_the_order_events_arrive_in(
    analytics: Analytics,
) -> None:
    d, ids = days_before_today(2), fresh_ids()
    every = cases(ids)
    for case in every:
        await deliver_case(analytics, case, d, ids["m1"])
    assert analytics.harness.outcomes.count("duplicate") == len(every)  # each placed, twice
    assert analytics.harness.dead_letters == []

    period = {"from": d.first.isoformat(), "to": d.second.isoformat()}
    seen: dict[str, Any] = {}
    for case in every:
        report = await analytics.json(f"/skus/{case.sku}", **period)
        days = [(x["day"], x["units_sold"], x["units_returned"], x["gmv"]) for x in report["days"]]
        seen[case.label] = (days, (report["last_sold_at"] or "never")[:16])
    assert seen == {
        case.label: (expected_days(case, d), f"{d.first.isoformat()}T09:01") for case in every
    }
    top = await analytics.json("/top-products", limit=100, **period)
    by_product = {
        item["product_id"]: (item["units_sold"], item["units_returned"], item["gmv"])
        for item in top["items"]
    }
    assert by_product == {
        case.product: (
            3,
            3 if case.kind in ("returned", "cancelled") else 0,
            7200 if case.kind == "paid in USD" else 3000,
        )
        for case in every
    }
