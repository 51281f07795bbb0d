"""Accounts, tiers, coupons and points in the order saga: real tokens from membership's JWKS,
totals with member price, coupon and points, and compensation when payment declines."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chassis.testing.infra import DatabaseFactory, free_port
from chassis.testing.polling import eventually
from chassis.testing.serving import serve_app
from chassis.testing.tokens import TestTokenIssuer
from membership_service.config import MembershipSettings

from .conftest import ADDRESS, Suite, gateway_for, start_suite

pytestmark = pytest.mark.integration


@pytest.fixture
async def shop(
    suite_settings: dict[str, Any],
    create_database: DatabaseFactory,
    token_issuer: TestTokenIssuer,
) -> AsyncIterator[Suite]:
    """The whole order-to-cash suite, with membership issuing and publishing the keys."""
    port = free_port()
    jwks = f"http://127.0.0.1:{port}/.well-known/jwks.json"
    settings = {name: s.model_copy(update={"jwks_url": jwks}) for name, s in suite_settings.items()}
    base = suite_settings["order"]
    settings["membership"] = MembershipSettings(
        database_url=await create_database("membership"),
        kafka_bootstrap_servers=base.kafka_bootstrap_servers,
        redis_url=base.redis_url,
        redis_key_prefix=base.redis_key_prefix,
        jwks_url=jwks,
        environment="test",
        outbox_poll_seconds=0.05,
        tier_silver_spend=20_000,  # 200.00 CNY of completed orders makes a member SILVER
    )
    async with AsyncExitStack() as stack:
        yield await start_suite(
            stack,
            settings,
            token_issuer,
            only=("membership", "catalog", "inventory", "payment", "order"),
            ports={"membership": port},
        )


async def login(shop: Suite, email: str, password: str) -> dict[str, str]:
    response = await shop.http["membership"].post(
        "/api/v1/auth/login", json={"email": email, "password": password}
    )
    assert response.status_code == 200, response.text
    return {"Authorization": f"Bearer {response.json()['access_token']}"}


async def test_tier_coupon_and_points_price_the_order_and_a_decline_restores_them(
    shop: Suite,
) -> None:
    admin = await login(shop, "admin@example.com", "dev-admin-password")
    shop.admin = admin  # the suite's admin calls now use a real membership token
    email, password = f"alice-{uuid.uuid4().hex[:6]}@example.com", "correct horse battery"
    registered = await shop.http["membership"].post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "name": "Alice", "locale": "en"},
    )
    assert registered.status_code == 201, registered.text
    member_id = registered.json()["id"]
    alice = await login(shop, email, password)

    async def me() -> dict[str, Any]:
        response = await shop.http["membership"].get("/api/v1/me", headers=alice)
        assert response.status_code == 200, response.text
        result: dict[str, Any] = response.json()
        return result

    coupons = {c["kind"]: c for c in (await me())["coupons"]}
    welcome = coupons["WELCOME_GIFT"]
    assert welcome["amount_off"] == {"amount": 1000, "currency": "CNY"}

    # A first order, completed by the admin: points earned and the tier moves to SILVER.
    sku = await shop.product(price=30_000, stock=20)
    first = (await shop.place(sku, member=alice)).json()["order_id"]
    assert (await shop.settled(first, "payment.payment.captured"))["status"] == "CONFIRMED"
    for action in ("ship", "deliver", "complete"):
        moved = await shop.http["order"].post(
            f"/api/v1/admin/orders/{first}/{action}", headers=admin
        )
        assert moved.status_code == 202, moved.text
    profile = await eventually(me, lambda p: p["tier"] == "SILVER" and p["points_balance"] > 0)
    assert (profile["tier"], profile["points_balance"]) == ("SILVER", 300)

    # The order service hears of the tier and the coupon through events; wait for both (the
    # tier through its read model, the coupon through the quote below).
    async def known_tier() -> Any:
        return await shop.scalar(
            "order", "SELECT tier FROM member_tier_view WHERE member_id = :m", m=member_id
        )

    assert await eventually(known_tier, lambda tier: tier == "SILVER") == "SILVER"

    async def quote_with_benefits() -> Any:
        return await shop.http["order"].post(
            "/api/v1/orders",
            json={
                "items": [{"sku": sku, "quantity": 1}],
                "currency": "CNY",
                "payment_token": "tok_visa",
                "shipping_address": ADDRESS,
                "coupon_code": welcome["code"],
                "points": 100,
            },
            headers=alice,
        )

    placed = await eventually(
        quote_with_benefits, lambda r: r.status_code == 202 or "coupon" not in r.text
    )
    assert placed.status_code == 202, placed.text
    second = placed.json()["order_id"]
    shop.orders.append(second)
    order = await shop.settled(second, "membership.coupon.redeemed", "payment.payment.captured")
    # 300.00 - 2 % SILVER (6.00) - coupon 10.00 - 100 points (1.00) = 283.00
    assert order["status"] == "CONFIRMED"
    assert (order["tier_discount"]["amount"], order["coupon_discount"]["amount"]) == (600, 1000)
    assert (order["points_discount"]["amount"], order["total"]["amount"]) == (100, 28_300)
    profile = await eventually(me, lambda p: p["points_balance"] == 200)
    assert profile["points_balance"] == 200
    assert {c["code"]: c["status"] for c in profile["coupons"]}[welcome["code"]] == "REDEEMED"

    # A threshold coupon and points on an order whose card is declined: both come back.
    issued = await shop.http["membership"].post(
        "/api/v1/admin/coupons",
        json={"member_id": member_id, "amount_off": 3000, "min_spend": 20_000, "valid_days": 7},
        headers=admin,
    )
    assert issued.status_code == 201, issued.text
    threshold = issued.json()["code"]

    async def declined_order() -> Any:
        return await shop.http["order"].post(
            "/api/v1/orders",
            json={
                "items": [{"sku": sku, "quantity": 1}],
                "currency": "CNY",
                "payment_token": "tok_chargeDeclined",
                "shipping_address": ADDRESS,
                "coupon_code": threshold,
                "points": 150,
            },
            headers=alice,
        )

    placed = await eventually(declined_order, lambda r: r.status_code == 202)
    assert placed.status_code == 202, placed.text
    third = placed.json()["order_id"]
    shop.orders.append(third)
    order = await shop.settled(third, "membership.points.restored", "membership.coupon.restored")
    assert (order["status"], order["reason"]) == ("REJECTED", "PAYMENT_DECLINED")
    assert order["total"]["amount"] == 30_000 - 600 - 3000 - 150
    profile = await eventually(me, lambda p: p["points_balance"] == 200 and p["points_held"] == 0)
    assert (profile["points_balance"], profile["points_held"]) == (200, 0)
    assert {c["code"]: c["status"] for c in profile["coupons"]}[threshold] == "ACTIVE"
    await shop.check_invariants()


async def test_a_coupon_membership_refuses_rejects_the_order_and_releases_stock(
    shop: Suite,
) -> None:
    email, password = f"bob-{uuid.uuid4().hex[:6]}@example.com", "another good password"
    await shop.http["membership"].post(
        "/api/v1/auth/register",
        json={"email": email, "password": password, "name": "Bob", "locale": "zh-CN"},
    )
    bob = await login(shop, email, password)
    shop.admin = await login(shop, "admin@example.com", "dev-admin-password")
    me = (await shop.http["membership"].get("/api/v1/me", headers=bob)).json()
    first_order = {c["kind"]: c for c in me["coupons"]}["FIRST_ORDER"]
    sku = await shop.product(price=20_000, stock=5)

    # Spend 1.00 more than 100 points can cover: membership finds no points to hold.
    async def place() -> Any:
        return await shop.http["order"].post(
            "/api/v1/orders",
            json={
                "items": [{"sku": sku, "quantity": 1}],
                "currency": "CNY",
                "payment_token": "tok_visa",
                "shipping_address": ADDRESS,
                "coupon_code": first_order["code"],
                "points": 100,
            },
            headers=bob,
        )

    placed = await eventually(place, lambda r: r.status_code == 202)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    shop.orders.append(order_id)
    order = await shop.settled(order_id)
    assert (order["status"], order["reason"]) == ("REJECTED", "INSUFFICIENT_POINTS")
    stock = await eventually(lambda: shop.stock(sku), lambda s: s["reserved"] == 0)
    assert (stock["on_hand"], stock["reserved"]) == (5, 0)
    await shop.check_invariants()


ROUTES = {
    "catalog": "/api/v1/admin/products",
    "inventory": "/api/v1/admin/inventory/NO-SUCH-SKU",
    "payment": "/api/v1/payments/no-such-order",
    "order": "/api/v1/orders",
    "membership": "/api/v1/me",
}


def unsigned(issuer: TestTokenIssuer) -> str:
    def part(obj: object) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    claims = json.loads(
        base64.urlsafe_b64decode(issuer.token(roles=["admin"]).split(".")[1] + "==")
    )
    return f"{part({'alg': 'none', 'typ': 'JWT', 'kid': issuer.kid})}.{part(claims)}."


async def test_bad_tokens_are_401_at_every_service(shop: Suite) -> None:
    # Sign with membership's own key (read from its database), so that only the one thing
    # each bad token gets wrong is wrong.
    async with shop.db("membership").engine.connect() as conn:
        kid, pem = (
            await conn.execute(sa.text("SELECT kid, private_pem FROM signing_keys WHERE active"))
        ).one()
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    assert isinstance(key, Ed25519PrivateKey)
    real = TestTokenIssuer(key=key, kid=kid)
    bad = {
        "forged": real.token(roles=["admin"], key=Ed25519PrivateKey.generate()),
        "alg-none": unsigned(real),
        "wrong-audience": real.token(roles=["admin"], audience="another-api"),
        "expired": real.token(roles=["admin"], expires_in=-120),
    }
    for service, route in ROUTES.items():
        good = await shop.http[service].get(
            route, headers={"Authorization": f"Bearer {real.token(roles=['admin'])}"}
        )
        assert good.status_code != 401, (service, good.text)  # the key itself is accepted
        for name, token in bad.items():
            response = await shop.http[service].get(
                route, headers={"Authorization": f"Bearer {token}"}
            )
            assert response.status_code == 401, (service, name, response.text)
            assert response.headers["content-type"] == "application/problem+json"


async def test_the_storefront_journey_through_the_gateway(shop: Suite) -> None:
    """Register, log in, browse, cart, order with the welcome coupon, CONFIRMED; a stale
    token is 401 and a client over its rate is 429 — all through the gateway only."""
    gateway = gateway_for(shop, rate_per_client_per_minute=1000, rate_per_member_per_minute=1000)
    shop.admin = await login(shop, "admin@example.com", "dev-admin-password")
    sku = await shop.product(price=12_800, stock=10)
    async with serve_app(gateway) as url, httpx.AsyncClient(base_url=url, timeout=15) as edge:
        email, password = f"gw-{uuid.uuid4().hex[:6]}@example.com", "gateway-journey-1"
        registered = await edge.post(
            "/api/v1/auth/register",
            json={"email": email, "password": password, "name": "Gia", "locale": "en"},
        )
        assert registered.status_code == 201, registered.text
        tokens = (
            await edge.post("/api/v1/auth/login", json={"email": email, "password": password})
        ).json()
        member = {"Authorization": f"Bearer {tokens['access_token']}"}
        found = (await edge.get("/api/v1/products", params={"q": "Item"})).json()
        assert sku in {s["sku"] for p in found["items"] for s in p["skus"]}
        assert (
            await edge.put(f"/api/v1/cart/items/{sku}", json={"quantity": 1}, headers=member)
        ).status_code == 200

        async def me() -> dict[str, Any]:
            result: dict[str, Any] = (await edge.get("/api/v1/me", headers=member)).json()
            return result

        profile = await eventually(
            me, lambda m: any(c["kind"] == "WELCOME_GIFT" for c in m["coupons"])
        )
        coupon = next(c["code"] for c in profile["coupons"] if c["kind"] == "WELCOME_GIFT")

        async def place() -> httpx.Response:
            return await edge.post(
                "/api/v1/orders",
                json={
                    "items": [{"sku": sku, "quantity": 1}],
                    "currency": "CNY",
                    "payment_token": "tok_visa",
                    "shipping_address": ADDRESS,
                    "coupon_code": coupon,
                },
                # A new key per attempt: a refusal (the coupon not known to order yet) is
                # stored under its key and would be replayed.
                headers={**member, "Idempotency-Key": f"journey-{uuid.uuid4()}"},
            )

        placed = await eventually(place, lambda r: r.status_code == 202)
        assert placed.status_code == 202, placed.text
        order_id = placed.json()["order_id"]
        shop.orders.append(order_id)

        async def order() -> dict[str, Any]:
            result: dict[str, Any] = (
                await edge.get(f"/api/v1/orders/{order_id}", headers=member)
            ).json()
            return result

        final = await eventually(order, lambda o: o["status"] != "PENDING")
        assert (final["status"], final["total"]["amount"]) == ("CONFIRMED", 11_800)

        stale = shop.issuer.token(expires_in=-60)
        expired = await edge.get("/api/v1/orders", headers={"Authorization": f"Bearer {stale}"})
        assert expired.status_code == 401
    await shop.check_invariants()
