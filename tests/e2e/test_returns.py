"""After-sales returns on the real order-to-cash services (PostgreSQL, Redis, the broker): a
delivered order returned in full is refunded by payment and restocked by inventory."""

from __future__ import annotations

import pytest

from .conftest import Suite

pytestmark = pytest.mark.integration


async def deliver(suite: Suite, order_id: str) -> None:
    for action in ("ship", "deliver"):
        moved = await suite.http["order"].post(
            f"/api/v1/admin/orders/{order_id}/{action}", headers=suite.admin
        )
        assert moved.status_code == 202, moved.text


async def test_a_delivered_order_returned_in_full_is_refunded_and_restocked(suite: Suite) -> None:
    sku = await suite.product(price=4_500, stock=6)
    member = suite.member()
    placed = await suite.place(sku, quantity=2, member=member)
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]
    assert (await suite.settled(order_id, "payment.payment.captured"))["status"] == "CONFIRMED"

    early = await suite.http["order"].post(f"/api/v1/orders/{order_id}/returns", headers=member)
    assert early.status_code == 409, early.text  # not delivered yet
    assert early.json()["type"].endswith("/not-returnable")

    await deliver(suite, order_id)
    stranger = await suite.http["order"].post(
        f"/api/v1/orders/{order_id}/returns", headers=suite.member()
    )
    assert stranger.status_code == 404, stranger.text
    returned = await suite.http["order"].post(f"/api/v1/orders/{order_id}/returns", headers=member)
    assert returned.status_code == 202, returned.text
    assert returned.json()["status"] == "REFUNDED"

    order = await suite.settled(order_id, "order.order.returned", "payment.payment.refunded")
    assert (order["status"], order["reason"]) == ("REFUNDED", "RETURNED_BY_CUSTOMER")
    timeline = [event["type"] for event in order["timeline"]]
    assert timeline.index("order.order.delivered") < timeline.index("order.order.returned")
    assert timeline.index("order.order.returned") < timeline.index("payment.payment.refunded")
    refunded = await suite.scalar(
        "payment", "SELECT refunded_amount FROM payment_intents WHERE order_id = :o", o=order_id
    )
    assert refunded == 9_000
    assert await suite.until_effects(order_id, ("REFUNDED", "RELEASED", "REFUNDED")) == (
        "REFUNDED",
        "RELEASED",
        "REFUNDED",
    )
    stock = await suite.stock(sku)
    assert (stock["on_hand"], stock["available"]) == (6, 6)  # both units back on the shelf

    again = await suite.http["order"].post(f"/api/v1/orders/{order_id}/returns", headers=member)
    assert again.status_code == 409, again.text
    await suite.check_invariants()
