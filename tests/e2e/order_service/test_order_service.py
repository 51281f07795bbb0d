"""The order service against the real catalog, with inventory and payment answers injected
as real events on the broker."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from chassis.testing.events import send
from chassis.testing.kafka import header, read_keyed
from chassis.testing.polling import eventually
from chassis.testing.statements import statements_sent
from shared_events.inventory import ShortLine, StockLine, StockRejectedV1, StockReservedV1
from shared_events.money import Money
from shared_events.order import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderPlacedV1,
    OrderRejectedV1,
    PaymentRequestedV1,
)
from shared_events.payment import PaymentAuthorizedV1, PaymentCapturedV1, PaymentFailedV1
from shared_events.topics import ORDER_EVENTS

from .conftest import Shop

pytestmark = pytest.mark.integration

ADDRESS = {
    "name": "Li Lei",
    "phone": "+86 138 0000 0000",
    "line1": "1 Century Avenue",
    "city": "Shanghai",
    "postal_code": "200120",
    "country": "CN",
}


async def publish_product(shop: Shop, price: int = 4200) -> str:
    sku = f"SKU-{uuid.uuid4().hex[:8]}"
    body = {
        "name": "Oolong",
        "category": "tea",
        "skus": [{"sku": sku, "price": {"amount": price, "currency": "CNY"}}],
        "food": {"shelf_life_days": 540, "storage_class": "AMBIENT"},
    }
    created = await shop.catalog.post("/api/v1/admin/products", json=body, headers=shop.admin)
    product_id = created.json()["id"]
    await shop.catalog.post(f"/api/v1/admin/products/{product_id}/publish", headers=shop.admin)
    return sku


async def wait_for_sale(shop: Shop, sku: str, member: dict[str, str]) -> None:
    """The read model is eventually consistent: wait until the SKU can go in a cart."""
    response = await eventually(
        lambda: shop.order.put(f"/api/v1/cart/items/{sku}", json={"quantity": 1}, headers=member),
        lambda r: r.status_code == 200,
        timeout=10,
    )
    assert response.status_code == 200, f"{sku} never reached the order read model"


def order_body(sku: str, quantity: int = 2, **extra: Any) -> dict[str, Any]:
    return {
        "items": [{"sku": sku, "quantity": quantity}],
        "currency": "CNY",
        "payment_token": "tok_visa",
        "shipping_address": ADDRESS,
        **extra,
    }


async def order_state(
    shop: Shop, order_id: str, member: dict[str, str], status: str
) -> dict[str, Any]:
    async def read() -> dict[str, Any]:
        order: dict[str, Any] = (
            await shop.order.get(f"/api/v1/orders/{order_id}", headers=member)
        ).json()
        return order

    order = await eventually(read, lambda o: o["status"] == status, timeout=15)
    assert order["status"] == status, f"order {order_id} stayed {order['status']}"
    return order


async def test_order_is_priced_from_the_catalog_and_confirmed_by_the_saga(
    shop: Shop, kafka_bootstrap_servers: str
) -> None:
    member = shop.member()
    sku = await publish_product(shop, price=4200)
    await wait_for_sale(shop, sku, member)

    placed = await shop.order.post("/api/v1/orders", json=order_body(sku, 3), headers=member)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    assert placed.json()["status"] == "PENDING"

    (event,) = await read_keyed(kafka_bootstrap_servers, ORDER_EVENTS, order_id, 1)
    assert header(event, "ce_type") == OrderPlacedV1.event_type
    order = (await shop.order.get(f"/api/v1/orders/{order_id}", headers=member)).json()
    assert order["total"] == {"amount": 12600, "currency": "CNY"}
    assert order["items"][0]["unit_price"]["amount"] == 4200

    await send(
        shop.producer,
        StockReservedV1(
            order_id=order_id,
            lines=[StockLine(sku=sku, quantity=3)],
            expires_at=order["created_at"],
        ),
    )
    requested = await read_keyed(kafka_bootstrap_servers, ORDER_EVENTS, order_id, 2)
    assert header(requested[1], "ce_type") == PaymentRequestedV1.event_type
    assert header(requested[1], "ce_causationid")  # caused by the reservation event

    money = Money(amount=12600, currency="CNY")
    await send(
        shop.producer, PaymentAuthorizedV1(order_id=order_id, payment_id="pay-1", amount=money)
    )
    confirmed = await order_state(shop, order_id, member, "CONFIRMED")
    assert [t["type"] for t in confirmed["timeline"]] == [
        OrderPlacedV1.event_type,
        StockReservedV1.event_type,
        PaymentRequestedV1.event_type,
        PaymentAuthorizedV1.event_type,
        OrderConfirmedV1.event_type,
    ]
    final = await read_keyed(kafka_bootstrap_servers, ORDER_EVENTS, order_id, 3)
    assert header(final[2], "ce_type") == OrderConfirmedV1.event_type

    # The capture changes no state: it joins the timeline with the order's status, read by the
    # statement that writes the entry (the order row is not read back first).
    with statements_sent(shop.order_runtime.database.engine) as sent:
        await send(
            shop.producer, PaymentCapturedV1(order_id=order_id, payment_id="pay-1", amount=money)
        )
        captured = await eventually(
            lambda: shop.order.get(f"/api/v1/orders/{order_id}", headers=member),
            lambda r: len(r.json()["timeline"]) == 6,
        )
    last = captured.json()["timeline"][-1]
    assert (last["type"], last["status"]) == (PaymentCapturedV1.event_type, "CONFIRMED")
    saga = [s for s in sent if "order_timeline" in s and s.startswith("INSERT")]
    assert len(saga) == 1 and "FROM orders WHERE orders.id" in saga[0], saga
    locked_reads = [
        s
        for s in sent
        if s.startswith("SELECT") and "WHERE orders.id = " in s and "FOR UPDATE" in s
    ]
    assert locked_reads == [], locked_reads


@pytest.mark.parametrize(
    ("answer_with", "reason"),
    [
        ("stock", "OUT_OF_STOCK"),
        ("PAYMENT_DECLINED", "PAYMENT_DECLINED"),
        ("INSUFFICIENT_FUNDS", "INSUFFICIENT_FUNDS"),
        ("RISK_REJECTED", "RISK_REJECTED"),
    ],
)
async def test_rejections_end_with_a_reason(
    shop: Shop, kafka_bootstrap_servers: str, answer_with: str, reason: str
) -> None:
    member = shop.member()
    sku = await publish_product(shop)
    await wait_for_sale(shop, sku, member)
    order_id = (
        await shop.order.post("/api/v1/orders", json=order_body(sku), headers=member)
    ).json()["order_id"]
    if answer_with == "stock":
        await send(
            shop.producer,
            StockRejectedV1(
                order_id=order_id, short=[ShortLine(sku=sku, requested=2, available=0)]
            ),
        )
    else:
        await send(
            shop.producer,
            StockReservedV1(
                order_id=order_id,
                lines=[StockLine(sku=sku, quantity=2)],
                expires_at="2030-01-01T00:00:00Z",
            ),  # type: ignore[arg-type]
        )
        await read_keyed(kafka_bootstrap_servers, ORDER_EVENTS, order_id, 2)
        await send(
            shop.producer, PaymentFailedV1(order_id=order_id, payment_id="p", reason=answer_with)
        )
    rejected = await order_state(shop, order_id, member, "REJECTED")
    assert rejected["reason"] == reason
    events = await read_keyed(
        kafka_bootstrap_servers, ORDER_EVENTS, order_id, 3 if answer_with != "stock" else 2
    )
    assert header(events[-1], "ce_type") == OrderRejectedV1.event_type


@pytest.mark.parametrize("shop", [1.0], indirect=True)
async def test_no_answer_times_out_and_cancels(shop: Shop, kafka_bootstrap_servers: str) -> None:
    member = shop.member()
    sku = await publish_product(shop)
    await wait_for_sale(shop, sku, member)
    order_id = (
        await shop.order.post("/api/v1/orders", json=order_body(sku), headers=member)
    ).json()["order_id"]
    cancelled = await order_state(shop, order_id, member, "CANCELLED")
    assert cancelled["reason"] == "TIMEOUT"
    events = await read_keyed(kafka_bootstrap_servers, ORDER_EVENTS, order_id, 2)
    assert header(events[1], "ce_type") == OrderCancelledV1.event_type


async def test_idempotency_key_replays_and_refuses_another_body(shop: Shop) -> None:
    member = shop.member()
    sku = await publish_product(shop)
    await wait_for_sale(shop, sku, member)
    key = {"Idempotency-Key": str(uuid.uuid4()), **member}
    first = await shop.order.post("/api/v1/orders", json=order_body(sku), headers=key)
    again = await shop.order.post("/api/v1/orders", json=order_body(sku), headers=key)
    other = await shop.order.post("/api/v1/orders", json=order_body(sku, 5), headers=key)
    assert first.status_code == again.status_code == 202
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert other.status_code == 422 and other.json()["type"].endswith("idempotency-key-reused")
    listed = (await shop.order.get("/api/v1/orders", headers=member)).json()
    assert listed["total"] == 1


async def test_bad_orders_are_refused(shop: Shop) -> None:
    member = shop.member()
    sku = await publish_product(shop)
    await wait_for_sale(shop, sku, member)
    cases = [
        order_body("NO-SUCH-SKU"),
        order_body(sku, quantity=0),
        {**order_body(sku), "total": 1},
        {**order_body(sku), "items": [{"sku": sku, "quantity": 1, "price": 1}]},
        {**order_body(sku), "currency": "USD"},
        {**order_body(sku), "shipping_address": {**ADDRESS, "country": "China"}},
    ]
    for body in cases:
        response = await shop.order.post("/api/v1/orders", json=body, headers=member)
        assert response.status_code == 422, (body, response.text)
        assert response.headers["content-type"] == "application/problem+json"
    no_token = await shop.order.post("/api/v1/orders", json=order_body(sku))
    assert no_token.status_code == 401
    assert (await shop.order.get("/api/v1/orders", headers=member)).json()["total"] == 0


async def test_another_members_order_is_not_found_and_owner_can_cancel(shop: Shop) -> None:
    owner, stranger = shop.member(), shop.member()
    sku = await publish_product(shop)
    await wait_for_sale(shop, sku, owner)
    order_id = (
        await shop.order.post("/api/v1/orders", json=order_body(sku), headers=owner)
    ).json()["order_id"]
    assert (await shop.order.get(f"/api/v1/orders/{order_id}", headers=stranger)).status_code == 404
    assert (
        await shop.order.post(f"/api/v1/orders/{order_id}/cancel", headers=stranger)
    ).status_code == 404
    assert (
        await shop.order.get(f"/api/v1/orders/{order_id}", headers=shop.admin)
    ).status_code == 200
    cancelled = await shop.order.post(f"/api/v1/orders/{order_id}/cancel", headers=owner)
    assert cancelled.status_code == 202 and cancelled.json()["status"] == "CANCELLED"
    again = await shop.order.post(f"/api/v1/orders/{order_id}/cancel", headers=owner)
    assert again.status_code == 409


async def test_cart_follows_the_read_model(shop: Shop) -> None:
    member = shop.member()
    sku = await publish_product(shop, price=990)
    await wait_for_sale(shop, sku, member)
    cart = (
        await shop.order.put(f"/api/v1/cart/items/{sku}", json={"quantity": 4}, headers=member)
    ).json()
    assert cart["items"] == [
        {
            "sku": sku,
            "quantity": 4,
            "name": "Oolong",
            "unit_price": {"amount": 990, "currency": "CNY"},
            "available_for_sale": True,
        }
    ]
    assert (
        await shop.order.put("/api/v1/cart/items/NOPE", json={"quantity": 1}, headers=member)
    ).status_code == 422
    emptied = (await shop.order.delete(f"/api/v1/cart/items/{sku}", headers=member)).json()
    assert emptied["items"] == []
