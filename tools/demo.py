"""`make demo`: a storefront journey through the gateway of a running suite (`make run`).

A visitor browses the catalog that `make run` seeded (`tools/demo_catalog.json`): the listing,
the categories, a search by `q` within a category, and the stock of the SKUs found, picking one
with stock. Then the visitor registers, logs in, fills the cart, orders with the welcome coupon,
watches the order reach CONFIRMED and reads the notifications; each step prints its latency.
Only when the catalog has nothing in stock (a suite started with `--no-seed`) does the admin put
a demo product with a lot of stock on the shelf first. Then the admin reads today's KPIs from the
analytics service (docs/kpis.md), once the order is in them. The journey ends where a buyer of
food would: once the order's stock is committed its item carries a trace code (溯源码), and the
public `GET /api/v1/trace/{code}` tells the product, the lot it came from (origin, dates,
storage class, inspection) and its chain of custody.
"""

from __future__ import annotations

import argparse
import math
import os
import sys
import time
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import partial
from typing import Any

import httpx
from rich.console import Console

from tools.seed import DemoCatalog
from tools.suite.credentials import AdminCredentials
from tools.suite.services import HOST, default, service_row

console = Console(highlight=False)
ADDRESS = {
    "name": "Demo Member",
    "phone": "+86 138 0000 0000",
    "line1": "1 Century Avenue",
    "city": "Shanghai",
    "postal_code": "200120",
    "country": "CN",
}
CURRENCY = "CNY"
# Membership's default; the coupon's own min_spend decides.
WELCOME_MIN_SPEND: int = default(service_row("membership").settings, "welcome_coupon_min_spend")
MIN_AVAILABLE = 5  # a SKU with fewer units is left to the flash-sale hunters
STOCK_CHECKS = 6  # SKUs whose stock the visitor looks up at the most
WAIT_SECONDS = 30.0  # for what the saga and the projections do after a request
TRACES_SHOWN = 3  # trace codes looked up at the most (one per lot the item came from)


@dataclass(frozen=True)
class Pick:
    """The SKU the visitor orders."""

    sku: str
    name: str
    price: int  # minor units
    available: int


class Journey:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10, trust_env=False)
        self.total = 0.0

    def step(
        self, title: str, call: Callable[[], httpx.Response], expect: Iterable[int] = (200,)
    ) -> Any:
        started = time.perf_counter()
        response = call()
        elapsed = (time.perf_counter() - started) * 1000
        self.total += elapsed
        ok = response.status_code in expect
        mark = "[green]ok[/]" if ok else f"[red]{response.status_code}[/]"
        console.print(f"{mark}  {title:<46} {elapsed:7.1f} ms")
        if not ok:
            console.print(response.text[:500])
            raise SystemExit(1)
        return response.json() if response.content else None

    def wait(
        self,
        title: str,
        probe: Callable[[], Any],
        done: Callable[[Any], bool],
        required: bool = True,
    ) -> Any:
        """Probe until `done`; a timeout ends the demo, or with `required=False` returns the
        last value for the caller to explain."""
        started = time.perf_counter()
        deadline = started + WAIT_SECONDS
        value = probe()
        while not done(value) and time.perf_counter() < deadline:
            time.sleep(0.05)
            value = probe()
        elapsed = (time.perf_counter() - started) * 1000
        mark = "[green]ok[/]" if done(value) else "[red]timeout[/]"
        console.print(f"{mark}  {title:<46} {elapsed:7.1f} ms")
        if not done(value) and required:
            raise SystemExit(1)
        return value

    def get(self, title: str, path: str, **params: str | int) -> Any:
        return self.step(title, lambda: self.http.get(f"/api/v1{path}", params=params))


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


# Browsing the seeded catalog


def browse(j: Journey, showcase: DemoCatalog) -> Pick | None:
    """The listing, the categories and a search; then a SKU in stock among what was found."""
    listing = j.get("a visitor browses the catalog", "/products", size=20)
    console.print(f"    {listing['total']} published product(s)")
    if not listing["total"]:
        return None
    categories = j.get("lists the categories", "/categories")
    console.print("    " + ", ".join(f"{c['category']} ({c['products']})" for c in categories))
    q, category = showcase.showcase_query, showcase.showcase_category
    found = j.get(f"searches '{q}' in {category}", "/products", q=q, category=category)
    names = ", ".join(p["name"] for p in found["items"][:3])
    console.print(f"    {found['total']} product(s): {names}")
    return pick_in_stock(j, found["items"] or listing["items"])


def candidates(products: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    """(sku, product name, price) in CNY: food first (its stock comes in lots, so the order
    gets a trace code), and those the welcome coupon applies to first."""
    skus = [
        (product.get("food") is None, sku["sku"], product["name"], sku["price"]["amount"])
        for product in products
        for sku in product["skus"]
        if sku["price"]["currency"] == CURRENCY
    ]
    ranked = sorted(skus, key=lambda s: (s[0], s[3] < WELCOME_MIN_SPEND))
    return [(sku, name, price) for _, sku, name, price in ranked]


def pick_in_stock(j: Journey, products: list[dict[str, Any]]) -> Pick | None:
    for sku, name, price in candidates(products)[:STOCK_CHECKS]:
        stock = j.step(
            f"checks the stock of {sku}",
            partial(j.http.get, f"/api/v1/inventory/{sku}"),
            expect=(200, 404),
        )
        if stock.get("available", 0) >= MIN_AVAILABLE:
            console.print(f"    picks {name}: {stock['available']} available")
            return Pick(sku, name, price, stock["available"])
    return None


def shelve_demo_product(j: Journey, admin_email: str, admin_password: str) -> Pick:
    """The fallback for a catalog with nothing in stock: the admin adds, publishes and stocks
    a food product, with one lot."""
    credentials = {"email": admin_email, "password": admin_password}
    admin = bearer(
        j.step("admin logs in", lambda: j.http.post("/api/v1/auth/login", json=credentials))
    )
    pick = Pick(f"DEMO-{uuid.uuid4().hex[:6].upper()}", "Demo oolong, 250 g", 12800, 100)
    body = {
        "name": pick.name,
        "category": "tea",
        "skus": [{"sku": pick.sku, "price": {"amount": pick.price, "currency": CURRENCY}}],
        "food": {"shelf_life_days": 730, "storage_class": "AMBIENT"},
    }
    product = j.step(
        "admin adds a product",
        lambda: j.http.post("/api/v1/admin/products", json=body, headers=admin),
        expect=(201,),
    )
    j.step(
        "admin publishes it",
        lambda: j.http.post(f"/api/v1/admin/products/{product['id']}/publish", headers=admin),
    )
    today = datetime.now(UTC).date()
    lot = {
        "lot": f"AX-{pick.sku}",
        "quantity": pick.available,
        "origin": {"country": "CN", "region": "Anxi, Fujian", "producer": "Anxi Tea Cooperative"},
        "production_date": (today - timedelta(days=30)).isoformat(),
        "expiry_date": (today + timedelta(days=700)).isoformat(),
        "storage_class": "AMBIENT",
        "inspection_ref": "FJ-AX-QC-DEMO",
        "inspected_at": datetime.now(UTC).isoformat(),
    }
    j.step(
        "admin receives a lot of it",
        lambda: j.http.post(f"/api/v1/admin/inventory/{pick.sku}/lots", json=lot, headers=admin),
        expect=(201,),
    )
    return pick


# The member's journey


def register_and_log_in(j: Journey) -> dict[str, str]:
    email, password = f"demo-{uuid.uuid4().hex[:6]}@example.com", "demo-password-123"
    profile = {"email": email, "password": password, "name": "Demo", "locale": "en"}
    j.step(
        "a visitor registers",
        lambda: j.http.post("/api/v1/auth/register", json=profile),
        expect=(201,),
    )
    login = {"email": email, "password": password}
    return bearer(j.step("and logs in", lambda: j.http.post("/api/v1/auth/login", json=login)))


def welcome_coupon(j: Journey, member: dict[str, str]) -> dict[str, Any]:
    me = j.wait(
        "the welcome coupon is there",
        lambda: j.http.get("/api/v1/me", headers=member).json(),
        lambda m: any(c["kind"] == "WELCOME_GIFT" for c in m.get("coupons", [])),
    )
    return next(c for c in me["coupons"] if c["kind"] == "WELCOME_GIFT")


def order_with_coupon(j: Journey, member: dict[str, str], pick: Pick) -> dict[str, Any]:
    """The order placed, as it reads once the saga is over."""
    coupon = welcome_coupon(j, member)
    # Enough units to reach the coupon's minimum spend.
    quantity = max(1, math.ceil(coupon["min_spend"]["amount"] / pick.price))
    j.wait(
        f"the cart takes {quantity} x {pick.sku}",
        lambda: j.http.put(
            f"/api/v1/cart/items/{pick.sku}", json={"quantity": quantity}, headers=member
        ),
        lambda r: r.status_code == 200,
    )
    order = j.wait(
        "orders with the coupon (202 PENDING)",
        lambda: j.http.post(
            "/api/v1/orders",
            json={
                "items": [{"sku": pick.sku, "quantity": quantity}],
                "currency": CURRENCY,
                "payment_token": "tok_visa",
                "shipping_address": ADDRESS,
                "coupon_code": coupon["code"],
            },
            headers={**member, "Idempotency-Key": str(uuid.uuid4())},
        ),
        lambda r: r.status_code == 202,
    ).json()
    confirmed = j.wait(
        "the order reaches CONFIRMED",
        lambda: j.http.get(f"/api/v1/orders/{order['order_id']}", headers=member).json(),
        lambda o: o.get("status") in {"CONFIRMED", "REJECTED", "CANCELLED"},
    )
    console.print(
        f"    {confirmed['status']}: total {confirmed['total']['amount'] / 100:.2f} "
        f"{confirmed['currency']} after {confirmed['coupon_discount']['amount'] / 100:.2f} off"
    )
    return dict(confirmed)


def read_notifications(j: Journey, member: dict[str, str]) -> None:
    notes = j.wait(
        "the notifications arrive",
        lambda: j.http.get("/api/v1/notifications", headers=member).json(),
        lambda n: len(n.get("items", [])) >= 2,
    )
    for note in notes["items"]:
        console.print(f"    {note.get('channel')} {note.get('template')}: {note.get('status')}")


def money(fen: int | None) -> str:
    return "-" if fen is None else f"{fen / 100:,.2f} {CURRENCY}"


def todays_kpis(j: Journey, admin_email: str, admin_password: str, paid_before: int) -> None:
    """Today's figures (the reporting day of the analytics service), once the order just
    confirmed is among them: the projection is fed by events, a moment behind the order."""
    credentials = {"email": admin_email, "password": admin_password}
    admin = bearer(
        j.step("admin logs in", lambda: j.http.post("/api/v1/auth/login", json=credentials))
    )

    def kpis() -> dict[str, Any]:
        response = j.http.get("/api/v1/admin/analytics/kpis", headers=admin)
        return response.json() if response.status_code == 200 else {}

    report = j.wait(
        "the order is in today's KPIs",
        kpis,
        lambda r: bool(r) and r["totals"]["orders_paid"] > paid_before,
    )
    totals = report["totals"]
    low = j.http.get("/api/v1/admin/analytics/low-stock", headers=admin).json()["items"]
    console.print(f"[bold]today's KPIs[/] ({report['to']}, {report['time_zone']})")
    console.print(
        f"    GMV {money(totals['gmv'])} (net {money(totals['net_gmv'])}), "
        f"orders {totals['orders_placed']} placed / {totals['orders_paid']} paid, "
        f"AOV {money(totals['aov'])}"
    )
    console.print(
        f"    members: {totals['paying_members']} paying, {totals['new_members']} new; "
        f"coupons {totals['coupons_redeemed']}/{totals['coupons_issued']} redeemed; "
        f"{len(low)} SKU(s) low on stock"
    )


def paid_today(j: Journey, admin_email: str, admin_password: str) -> int:
    """Orders paid today before the journey's (0 when analytics cannot be read)."""
    credentials = {"email": admin_email, "password": admin_password}
    login = j.http.post("/api/v1/auth/login", json=credentials)
    if login.status_code != 200:
        return 0
    response = j.http.get("/api/v1/admin/analytics/kpis", headers=bearer(login.json()))
    return int(response.json()["totals"]["orders_paid"]) if response.status_code == 200 else 0


# The trace of what was bought


def trace_codes(order: dict[str, Any]) -> list[str]:
    """The trace codes of the order's items (one per lot an item's units came from)."""
    return [
        allocation["trace_code"]
        for item in order.get("items", [])
        for allocation in item.get("trace") or []
        if allocation.get("trace_code")
    ]


def look_up_trace(j: Journey, member: dict[str, str], order: dict[str, Any]) -> None:
    """Once the order's stock is committed its items carry trace codes: each is looked up on
    the public trace route, as anyone holding the package could."""
    if order.get("status") != "CONFIRMED":
        console.print(
            f"    the order is {order.get('status')}: no stock committed, nothing to trace"
        )
        return
    path = f"/api/v1/orders/{order['id']}"
    traced = j.wait(
        "the order's item gets its trace code",
        lambda: j.http.get(path, headers=member).json(),
        lambda o: bool(trace_codes(o)),
        required=False,
    )
    codes = trace_codes(traced)
    if not codes:
        console.print(
            f"    [yellow]no trace code on order {order['id']} after {WAIT_SECONDS:.0f} s[/]: "
            "inventory has not committed its stock yet (is the inventory service consuming?)"
        )
        return
    for code in codes[:TRACES_SHOWN]:
        lookup = partial(j.http.get, f"/api/v1/trace/{code}")
        trace = j.step(f"anyone looks up trace code {code}", lookup)
        print_trace(trace)


def day(value: str | None) -> str:
    return date.fromisoformat(value).isoformat() if value else "-"


def moment(value: str) -> str:
    return datetime.fromisoformat(value).astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def print_trace(trace: dict[str, Any]) -> None:
    product, lot = trace["product"], trace["lot"]
    origin = lot.get("origin")
    where = (
        ", ".join(
            part for part in (origin["producer"], origin["region"], origin["country"]) if part
        )
        if origin
        else "origin not recorded"
    )
    console.print(
        f"[bold]trace {trace['trace_code']}[/]: {trace['quantity']} x "
        f"{product.get('name') or product['sku']} ({product['sku']})"
        + ("  [red]RECALLED[/]" if trace.get("recalled") else "")
    )
    console.print(f"    lot {lot['code']} ({lot['status']}) from {where}")
    console.print(
        f"    produced {day(lot.get('production_date'))}, expires {day(lot.get('expiry_date'))}, "
        f"{lot['storage_class'].lower()}, inspection {lot.get('inspection_ref') or '-'}"
    )
    for step in trace["custody"]:
        detail = f"  {step['detail']}" if step.get("detail") else ""
        console.print(f"    {step['step']:<10} {moment(step['at'])}{detail}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    gateway = f"http://{HOST}:{service_row('gateway').port}"
    parser.add_argument(
        "--gateway",
        default=os.environ.get("GATEWAY_URL", gateway),
        help=f"the suite's gateway (default: GATEWAY_URL, else {gateway})",
    )
    admin = AdminCredentials.resolve()
    parser.add_argument(
        "--admin-email", default=admin.email, help=f"default: {admin.email_variable}"
    )
    parser.add_argument(
        "--admin-password",
        default=admin.password,
        help=f"default: {admin.password_variable}; for today's KPIs, and for a demo product "
        "when the catalog has nothing in stock",
    )
    return parser


def main() -> None:
    args = build_parser().parse_args()
    j = Journey(args.gateway)
    try:
        j.http.get("/readyz").raise_for_status()
    except httpx.HTTPError:
        console.print(f"[red]no suite answers at {args.gateway}[/]: start it with `make run`")
        sys.exit(1)
    pick = browse(j, DemoCatalog.load())
    if pick is None:
        console.print("    nothing in stock: the admin puts a demo product on the shelf")
        pick = shelve_demo_product(j, args.admin_email, args.admin_password)
    paid_before = paid_today(j, args.admin_email, args.admin_password)
    member = register_and_log_in(j)
    order = order_with_coupon(j, member, pick)
    read_notifications(j, member)
    console.print(f"[bold]journey done[/]: {j.total:.0f} ms in requests")
    todays_kpis(j, args.admin_email, args.admin_password, paid_before)
    look_up_trace(j, member, order)


if __name__ == "__main__":
    main()
