"""`make demo`: a storefront journey through the gateway of a running suite (`make run`).

Registers a member, logs in, browses, fills the cart, orders with the welcome coupon, watches
the order reach CONFIRMED and reads the notifications; prints each step and its latency.
The admin puts a demo product with stock on the shelf first if the catalog has none.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import uuid
from collections.abc import Callable
from typing import Any

import httpx
from rich.console import Console

console = Console(highlight=False)
ADDRESS = {
    "name": "Demo Member",
    "phone": "+86 138 0000 0000",
    "line1": "1 Century Avenue",
    "city": "Shanghai",
    "postal_code": "200120",
    "country": "CN",
}


class Journey:
    def __init__(self, base_url: str) -> None:
        self.http = httpx.Client(base_url=base_url, timeout=10)
        self.total = 0.0

    def step(self, title: str, call: Callable[[], httpx.Response], expect: int = 200) -> Any:
        started = time.perf_counter()
        response = call()
        elapsed = (time.perf_counter() - started) * 1000
        self.total += elapsed
        ok = response.status_code == expect
        mark = "[green]ok[/]" if ok else f"[red]{response.status_code}[/]"
        console.print(f"{mark}  {title:<46} {elapsed:7.1f} ms")
        if not ok:
            console.print(response.text[:500])
            raise SystemExit(1)
        return response.json() if response.content else None

    def wait(self, title: str, probe: Callable[[], Any], done: Callable[[Any], bool]) -> Any:
        started = time.perf_counter()
        deadline = started + 30
        value = probe()
        while not done(value) and time.perf_counter() < deadline:
            time.sleep(0.05)
            value = probe()
        elapsed = (time.perf_counter() - started) * 1000
        mark = "[green]ok[/]" if done(value) else "[red]timeout[/]"
        console.print(f"{mark}  {title:<46} {elapsed:7.1f} ms")
        if not done(value):
            raise SystemExit(1)
        return value


def bearer(tokens: dict[str, Any]) -> dict[str, str]:
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--gateway", default=os.environ.get("GATEWAY_URL", "http://127.0.0.1:8000"))
    parser.add_argument(
        "--admin-email", default=os.environ.get("BOOTSTRAP_ADMIN_EMAIL", "admin@example.com")
    )
    parser.add_argument(
        "--admin-password",
        default=os.environ.get("BOOTSTRAP_ADMIN_PASSWORD", "dev-admin-password"),
    )
    args = parser.parse_args()
    j = Journey(args.gateway)
    try:
        j.http.get("/readyz").raise_for_status()
    except httpx.HTTPError:
        console.print(f"[red]no suite answers at {args.gateway}[/]: start it with `make run`")
        sys.exit(1)

    admin = bearer(
        j.step(
            "admin logs in",
            lambda: j.http.post(
                "/api/v1/auth/login",
                json={"email": args.admin_email, "password": args.admin_password},
            ),
        )
    )
    sku = f"DEMO-{uuid.uuid4().hex[:6].upper()}"
    product = j.step(
        "admin adds a product",
        lambda: j.http.post(
            "/api/v1/admin/products",
            json={
                "name": "Demo oolong, 250 g",
                "category": "tea",
                "skus": [{"sku": sku, "price": {"amount": 12800, "currency": "CNY"}}],
            },
            headers=admin,
        ),
        expect=201,
    )
    j.step(
        "admin publishes it",
        lambda: j.http.post(f"/api/v1/admin/products/{product['id']}/publish", headers=admin),
    )
    j.http.put(f"/api/v1/admin/inventory/{sku}", json={"on_hand": 100}, headers=admin)

    email, password = f"demo-{uuid.uuid4().hex[:6]}@example.com", "demo-password-123"
    j.step(
        "a visitor registers",
        lambda: j.http.post(
            "/api/v1/auth/register",
            json={"email": email, "password": password, "name": "Demo", "locale": "en"},
        ),
        expect=201,
    )
    member = bearer(
        j.step(
            "and logs in",
            lambda: j.http.post("/api/v1/auth/login", json={"email": email, "password": password}),
        )
    )
    found = j.step(
        "browses the catalog", lambda: j.http.get("/api/v1/products", params={"q": "oolong"})
    )
    console.print(f"    {found['total']} product(s) match 'oolong'")
    j.wait(
        "the cart takes the product",
        lambda: j.http.put(f"/api/v1/cart/items/{sku}", json={"quantity": 1}, headers=member),
        lambda r: r.status_code == 200,
    )
    me = j.wait(
        "the welcome coupon is there",
        lambda: j.http.get("/api/v1/me", headers=member).json(),
        lambda m: any(c["kind"] == "WELCOME_GIFT" for c in m.get("coupons", [])),
    )
    coupon = next(c["code"] for c in me["coupons"] if c["kind"] == "WELCOME_GIFT")
    order = j.wait(
        "orders with the coupon (202 PENDING)",
        lambda: j.http.post(
            "/api/v1/orders",
            json={
                "items": [{"sku": sku, "quantity": 1}],
                "currency": "CNY",
                "payment_token": "tok_visa",
                "shipping_address": ADDRESS,
                "coupon_code": coupon,
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
    notes = j.wait(
        "the notifications arrive",
        lambda: j.http.get("/api/v1/notifications", headers=member).json(),
        lambda n: len(n.get("items", [])) >= 2,
    )
    for note in notes["items"]:
        console.print(f"    {note.get('channel')} {note.get('template')}: {note.get('status')}")
    console.print(f"[bold]journey done[/]: {j.total:.0f} ms in requests")


if __name__ == "__main__":
    main()
