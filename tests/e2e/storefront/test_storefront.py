"""The storefront through the gateway of a suite started as `make run` starts it: the journey,
the saga's rejections and compensations, rate limits, bad tokens and other members' orders; at
the end, the invariants of tools/invariants.py over every service's database."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chassis.testing.tokens import TestTokenIssuer

from . import invariants
from .conftest import (
    PROBLEM,
    RATE_PER_MEMBER_PER_MINUTE,
    Member,
    Storefront,
    bearer,
    eventually,
)

pytestmark = pytest.mark.integration

CAPTURED = "payment.payment.captured"
COMMITTED = "inventory.stock.committed"


def assert_problem(response: httpx.Response, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM), response.headers
    problem: dict[str, Any] = response.json()
    assert problem["status"] == status, problem
    return problem


async def confirmed_order(shop: Storefront, member: Member, sku: str) -> dict[str, Any]:
    """A CONFIRMED order of one unit of `sku`, its capture and stock commit settled."""
    await shop.add_to_cart(member, sku)
    order_id = await shop.place_accepted(member, sku)
    order = await shop.settled(member, order_id, CAPTURED, COMMITTED)
    assert order["status"] == "CONFIRMED", order
    return order


async def test_the_storefront_journey(storefront: Storefront) -> None:
    """Register, log in, browse and search, cart, order with the welcome coupon, CONFIRMED,
    and a notification about the order."""
    shop = storefront
    sku = await shop.product(price=12_800, stock=10, name="Longjing green tea")
    member = await shop.register("Gia")

    found = (await shop.http.get("/api/v1/products", params={"q": sku, "size": 10})).json()
    assert found["total"] == 1, found
    (product,) = found["items"]
    assert product["skus"][0]["sku"] == sku
    assert product["skus"][0]["price"] == {"amount": 12_800, "currency": "CNY"}
    # The gateway joins inventory's availability into the catalog's products.
    assert product["skus"][0]["available"] == 10
    detail = await shop.http.get(f"/api/v1/products/{product['id']}")
    assert detail.status_code == 200, detail.text
    assert detail.json()["name"] == f"Longjing green tea {sku}"
    assert detail.json()["skus"][0]["available"] == 10
    by_category = (
        await shop.http.get("/api/v1/products", params={"category": "storefront-e2e"})
    ).json()
    assert product["id"] in {p["id"] for p in by_category["items"]}

    cart = await shop.add_to_cart(member, sku)
    assert [(line["sku"], line["quantity"]) for line in cart["items"]] == [(sku, 1)]

    profile = await eventually(
        lambda: shop.get_json("/api/v1/me", member),
        lambda me: any(c["kind"] == "WELCOME_GIFT" for c in me["coupons"]),
    )
    welcome = {c["kind"]: c for c in profile["coupons"]}["WELCOME_GIFT"]
    assert welcome["amount_off"] == {"amount": 1000, "currency": "CNY"}

    # The order service hears of the coupon through an event: retry (with a new
    # Idempotency-Key each time, a refusal is replayed too) until it knows it.
    placed = await eventually(
        lambda: shop.place(member, sku, coupon_code=welcome["code"]),
        lambda r: r.status_code == 202,
    )
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    key = placed.request.headers["Idempotency-Key"]
    replayed = await shop.place(member, sku, coupon_code=welcome["code"], idempotency_key=key)
    assert (replayed.status_code, replayed.json()["order_id"]) == (202, order_id)

    order = await shop.settled(member, order_id, CAPTURED, COMMITTED)
    assert (order["status"], order["reason"]) == ("CONFIRMED", None)
    assert (order["coupon_discount"]["amount"], order["total"]["amount"]) == (1000, 11_800)
    timeline = [entry["type"] for entry in order["timeline"]]
    assert timeline.index("order.order.placed") < timeline.index(CAPTURED), timeline
    assert await shop.until_available(sku, 9) == 9
    # A product page shows what its gateway process read within the last second.
    listed = await eventually(
        lambda: shop.http.get(f"/api/v1/products/{product['id']}"),
        lambda page: page.json()["skus"][0]["available"] == 9,
    )
    assert listed.json()["skus"][0]["available"] == 9

    mine = await shop.get_json("/api/v1/orders", member)
    assert [o["id"] for o in mine["items"]] == [order_id]

    def about_the_order(notes: dict[str, Any]) -> list[dict[str, Any]]:
        return [n for n in notes["items"] if order_id in n["subject"]]

    notes = await eventually(
        lambda: shop.get_json("/api/v1/notifications", member),
        lambda n: any(x["template"] == "order_confirmed" for x in about_the_order(n)),
    )
    assert "order_confirmed" in {n["template"] for n in about_the_order(notes)}, notes

    profile = await eventually(
        lambda: shop.get_json("/api/v1/me", member),
        lambda me: {c["code"]: c["status"] for c in me["coupons"]}[welcome["code"]] == "REDEEMED",
    )
    assert {c["code"]: c["status"] for c in profile["coupons"]}[welcome["code"]] == "REDEEMED"


async def availability_reads(shop: Storefront) -> int:
    """How many bulk availability reads inventory has answered, from its /metrics."""
    metrics = (await shop.http.get(f"{shop.suite.urls['inventory']}/metrics")).text
    found = re.findall(
        r'^http_requests_total\{method="GET",route="/api/v1/inventory",service="inventory",'
        r'status="200"\} ([0-9.e+]+)$',
        metrics,
        re.MULTILINE,
    )
    return int(float(found[0])) if found else 0


async def test_a_rush_on_a_product_page_costs_inventory_one_read(storefront: Storefront) -> None:
    """Twenty buyers open one product page at once: inventory is asked once (the gateway keeps
    a figure a second and waits on a read in flight), and a change of stock shows soon after."""
    shop = storefront
    product_id, sku = await shop.product_and_sku(stock=6)
    before = await availability_reads(shop)
    pages = await asyncio.gather(
        *(shop.http.get(f"/api/v1/products/{product_id}") for _ in range(20))
    )
    assert {(p.status_code, p.json()["skus"][0]["available"]) for p in pages} == {(200, 6)}
    # One read; two should the rush outlast the second a figure is kept on a slow machine.
    assert 1 <= await availability_reads(shop) - before <= 2
    restocked = await shop.http.put(
        f"/api/v1/admin/inventory/{sku}", json={"on_hand": 8}, headers=shop.admin
    )
    assert restocked.status_code == 200, restocked.text
    page = await eventually(
        lambda: shop.http.get(f"/api/v1/products/{product_id}"),
        lambda page: page.json()["skus"][0]["available"] == 8,
    )
    assert page.json()["skus"][0]["available"] == 8


async def test_an_order_for_more_than_is_in_stock_is_rejected(storefront: Storefront) -> None:
    shop = storefront
    sku = await shop.product(stock=2)
    member = await shop.register("Otto")
    await shop.add_to_cart(member, sku, quantity=3)
    order_id = await shop.place_accepted(member, sku, quantity=3)

    order = await shop.settled(member, order_id, "inventory.stock.rejected")
    assert (order["status"], order["reason"]) == ("REJECTED", "OUT_OF_STOCK")
    assert await shop.available(sku) == 2


async def test_a_declined_card_rejects_the_order_and_releases_the_stock(
    storefront: Storefront,
) -> None:
    shop = storefront
    sku = await shop.product(stock=5)
    member = await shop.register("Dora")
    await shop.add_to_cart(member, sku, quantity=2)
    order_id = await shop.place_accepted(
        member, sku, quantity=2, payment_token="tok_chargeDeclined"
    )

    order = await shop.settled(member, order_id, "inventory.stock.released")
    assert (order["status"], order["reason"]) == ("REJECTED", "PAYMENT_DECLINED")
    assert "payment.payment.failed" in [entry["type"] for entry in order["timeline"]]
    assert await shop.until_available(sku, 5) == 5


async def test_cancelling_a_confirmed_order_refunds_and_restocks(storefront: Storefront) -> None:
    shop = storefront
    sku = await shop.product(price=5_000, stock=4)
    member = await shop.register("Cai")
    order = await confirmed_order(shop, member, sku)
    assert await shop.until_available(sku, 3) == 3

    cancelled = await shop.http.post(f"/api/v1/orders/{order['id']}/cancel", headers=member.headers)
    assert cancelled.status_code == 202, cancelled.text
    order = await shop.settled(member, order["id"], "payment.payment.refunded")
    assert (order["status"], order["reason"]) == ("CANCELLED", "CANCELLED_BY_CUSTOMER")
    assert "payment.payment.refunded" in [entry["type"] for entry in order["timeline"]]
    payment = await shop.get_json(f"/api/v1/payments/{order['id']}", member)
    assert payment["status"] == "REFUNDED", payment
    assert payment["refunded"] == payment["captured"] == {"amount": 5_000, "currency": "CNY"}
    assert await shop.until_available(sku, 4) == 4

    again = await shop.http.post(f"/api/v1/orders/{order['id']}/cancel", headers=member.headers)
    assert_problem(again, 409)


async def hammer(shop: Storefront, member: Member, rounds: int = 3) -> list[httpx.Response]:
    """More requests than a member may send in a minute, a round at a time, until one is
    limited (a round may straddle two windows); returns the responses of the last round."""
    gate = asyncio.Semaphore(16)

    async def one() -> httpx.Response:
        async with gate:
            return await shop.http.get("/api/v1/cart", headers=member.headers)

    responses: list[httpx.Response] = []
    for _ in range(rounds):
        responses = await asyncio.gather(*(one() for _ in range(RATE_PER_MEMBER_PER_MINUTE + 10)))
        if any(r.status_code == 429 for r in responses):
            break
    return responses


async def test_a_member_over_the_rate_limit_gets_429_with_retry_after(
    storefront: Storefront,
) -> None:
    shop = storefront
    greedy, bystander = await shop.register("Greedy"), await shop.register("Calm")
    responses = await hammer(shop, greedy)

    statuses = {r.status_code for r in responses}
    assert statuses == {200, 429}, statuses
    limited = next(r for r in responses if r.status_code == 429)
    assert_problem(limited, 429)
    assert 1 <= int(limited.headers["Retry-After"]) <= 61, limited.headers
    # The limit is the member's, not the client's: another member from the same address passes.
    assert (await shop.http.get("/api/v1/cart", headers=bystander.headers)).status_code == 200


async def membership_issuer(shop: Storefront) -> TestTokenIssuer:
    """Tokens signed with membership's active key, read from its database."""
    query = sa.text("SELECT kid, private_pem FROM signing_keys WHERE active")
    async with shop.connect("membership") as conn:
        row = (await conn.execute(query)).one()
    private = serialization.load_pem_private_key(row.private_pem.encode(), password=None)
    assert isinstance(private, Ed25519PrivateKey), type(private)
    return TestTokenIssuer(key=private, kid=row.kid)


async def test_expired_and_foreign_tokens_are_401(storefront: Storefront) -> None:
    shop = storefront
    member = await shop.register("Ivy")
    # Signed with membership's own key, so that each bad token is wrong in one way only.
    real = await membership_issuer(shop)

    fresh = await shop.http.get("/api/v1/orders", headers=bearer(real.token(member.id)))
    assert fresh.status_code == 200, fresh.text  # the key itself is accepted
    bad = {
        "expired": real.token(member.id, expires_in=-120),
        "foreign key, same kid": real.token(member.id, key=Ed25519PrivateKey.generate()),
        "foreign key and kid": TestTokenIssuer().token(member.id),
    }
    for name, token in bad.items():
        response = await shop.http.get("/api/v1/orders", headers=bearer(token))
        assert response.status_code == 401, (name, response.text)
        assert_problem(response, 401)


async def test_another_members_order_is_404(storefront: Storefront) -> None:
    shop = storefront
    sku = await shop.product(stock=3)
    owner, other = await shop.register("Olga"), await shop.register("Nosy")
    order = await confirmed_order(shop, owner, sku)

    for path in (f"/api/v1/orders/{order['id']}", f"/api/v1/payments/{order['id']}"):
        assert (await shop.http.get(path, headers=owner.headers)).status_code == 200
        assert_problem(await shop.http.get(path, headers=other.headers), 404)
    cancel = await shop.http.post(f"/api/v1/orders/{order['id']}/cancel", headers=other.headers)
    assert_problem(cancel, 404)
    assert (await shop.get_json("/api/v1/orders", other))["items"] == []
    assert (await shop.get_json(f"/api/v1/orders/{order['id']}", owner))["status"] == "CONFIRMED"


async def test_the_invariants_hold_over_every_database(storefront: Storefront) -> None:
    """Last in the module: the invariants over what every test above did."""
    shop = storefront
    assert shop.orders, "the tests above placed no order"

    async def unsettled() -> dict[str, tuple[str | None, str | None, str | None]]:
        async with (
            shop.connect("order") as order,
            shop.connect("inventory") as inventory,
            shop.connect("payment") as payment,
        ):
            return await invariants.unsettled_orders(order, inventory, payment, shop.orders)

    # No lost order, and every step of every order settled or compensated.
    assert await eventually(unsettled, lambda found: not found) == {}
    async with shop.connect("inventory") as inventory:
        assert await invariants.violations("inventory", inventory) == {}
    async with shop.connect("payment") as payment:
        assert await invariants.violations("payment", payment) == {}
