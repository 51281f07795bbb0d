"""The order service's side of lots, on the real PostgreSQL and broker: inventory's commits (v2,
with lots and trace codes), re-allocations, withdrawals and recall notices are sent as real
events, and the order's reads, published events and returns are checked."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa

from chassis.testing.events import send
from chassis.testing.kafka import read_keyed, read_records
from chassis.testing.polling import eventually
from shared_events import EventPayload, from_kafka
from shared_events.inventory import (
    CommittedLine,
    LotAllocation,
    RecallCustomerAffectedV1,
    StockCommittedV1,
    StockCommittedV2,
    StockLine,
    StockReallocatedV1,
    StockReleasedV1,
    StockReservedV1,
    StockWithdrawnV1,
)
from shared_events.money import Money
from shared_events.order import OrderCancelledV1, OrderConfirmedV1
from shared_events.payment import PaymentAuthorizedV1
from shared_events.topics import ORDER_EVENTS

from .conftest import Shop
from .test_order_service import order_body, order_state, publish_product, wait_for_sale

pytestmark = pytest.mark.integration

PRICE = 4200


async def read(shop: Shop, order_id: str, member: dict[str, str]) -> dict[str, Any]:
    response = await shop.order.get(f"/api/v1/orders/{order_id}", headers=member)
    assert response.status_code == 200, response.text
    order: dict[str, Any] = response.json()
    return order


async def until_in_timeline(
    shop: Shop, order_id: str, member: dict[str, str], event_type: str, times: int = 1
) -> dict[str, Any]:
    order = await eventually(
        lambda: read(shop, order_id, member),
        lambda o: [e["type"] for e in o["timeline"]].count(event_type) >= times,
        timeout=15,
    )
    assert [e["type"] for e in order["timeline"]].count(event_type) >= times, order["timeline"]
    return order


async def awaiting_payment(
    shop: Shop, bootstrap: str, member: dict[str, str], quantity: int = 3
) -> tuple[str, str]:
    """A placed order whose stock is reserved and whose payment was asked for: (id, sku)."""
    sku = await publish_product(shop, price=PRICE)
    await wait_for_sale(shop, sku, member)
    placed = await shop.order.post("/api/v1/orders", json=order_body(sku, quantity), headers=member)
    assert placed.status_code == 202, placed.text
    order_id: str = placed.json()["order_id"]
    await send(
        shop.producer,
        StockReservedV1(
            order_id=order_id,
            lines=[StockLine(sku=sku, quantity=quantity)],
            expires_at=datetime(2030, 1, 1, tzinfo=UTC),
        ),
    )
    await read_keyed(bootstrap, ORDER_EVENTS, order_id, 2)  # placed, payment requested
    return order_id, sku


async def authorize(shop: Shop, order_id: str, quantity: int = 3) -> None:
    amount = Money(amount=PRICE * quantity, currency="CNY")
    await send(
        shop.producer,
        PaymentAuthorizedV1(order_id=order_id, payment_id=f"pay-{order_id}", amount=amount),
    )


async def confirmed(
    shop: Shop, bootstrap: str, member: dict[str, str], quantity: int = 3
) -> tuple[str, str]:
    order_id, sku = await awaiting_payment(shop, bootstrap, member, quantity)
    await authorize(shop, order_id, quantity)
    await order_state(shop, order_id, member, "CONFIRMED")
    return order_id, sku


def trace(order: dict[str, Any]) -> list[dict[str, Any]]:
    (item,) = order["items"]
    result: list[dict[str, Any]] = item["trace"]
    return result


async def published(bootstrap: str, order_id: str, event_type: str) -> list[dict[str, Any]]:
    """The payloads of `event_type` the order published, read until a moment after the first
    (time for a wrong second one to show up)."""
    records = await read_records(
        bootstrap,
        ORDER_EVENTS,
        match=lambda r: r.key == order_id.encode(),
        until=lambda kept: False,
        timeout=3,
    )
    envelopes = [from_kafka(r.value, list(r.headers)) for r in records]
    return [dict(e.data) for e in envelopes if e.type == event_type]


async def send_three_times(shop: Shop, payload: EventPayload) -> None:
    """`payload` sent, redelivered under the same event id, then sent again as a new event."""
    first = uuid.uuid4()
    await send(shop.producer, payload, event_id=first)
    await send(shop.producer, payload, event_id=first)  # redelivered
    await send(shop.producer, payload)  # the same news again, as a new event


async def assert_cancelled_once(
    bootstrap: str, order: dict[str, Any], cause: str, reason: str
) -> None:
    """The order CANCELLED with `reason` after a confirmation: `cause` twice in its timeline
    (the redelivery dropped), one cancellation, published once, as a confirmed order's."""
    assert (order["status"], order["reason"]) == ("CANCELLED", reason)
    types = [e["type"] for e in order["timeline"]]
    assert types.count(cause) == 2
    assert types.count(OrderCancelledV1.event_type) == 1
    cancellations = await published(bootstrap, order["id"], OrderCancelledV1.event_type)
    assert cancellations == [
        {
            "order_id": order["id"],
            "member_id": order["member_id"],
            "reason": reason,
            "was_confirmed": True,  # payment refunds what it captured
        }
    ]


async def test_commit_v2_keeps_trace_codes_and_a_reallocation_replaces_them(
    shop: Shop, kafka_bootstrap_servers: str
) -> None:
    member = shop.member()
    order_id, sku = await confirmed(shop, kafka_bootstrap_servers, member)
    assert trace(await read(shop, order_id, member)) == []  # nothing committed yet

    await send(
        shop.producer,
        StockCommittedV2(
            order_id=order_id,
            lines=[
                CommittedLine(
                    sku=sku,
                    quantity=3,
                    allocations=[
                        LotAllocation(lot="LOT-A", quantity=2, trace_code="TC-A-1"),
                        LotAllocation(lot="LOT-B", quantity=1, trace_code="TC-B-1"),
                    ],
                )
            ],
        ),
    )
    order = await until_in_timeline(shop, order_id, member, StockCommittedV2.event_type)
    assert trace(order) == [
        {"lot": "LOT-A", "quantity": 2, "trace_code": "TC-A-1"},
        {"lot": "LOT-B", "quantity": 1, "trace_code": "TC-B-1"},
    ]
    listed = (await shop.order.get("/api/v1/orders", headers=member)).json()
    assert trace(listed["items"][0]) == trace(order)  # the member's list shows them too
    assert trace(await read(shop, order_id, shop.admin)) == trace(order)  # and the admin's read

    # LOT-A is recalled: its two units now come from LOT-C, with new codes.
    await send(
        shop.producer,
        StockReallocatedV1(
            order_id=order_id,
            sku=sku,
            from_lot="LOT-A",
            quantity=2,
            allocations=[LotAllocation(lot="LOT-C", quantity=2, trace_code="TC-C-1")],
            reason="RECALLED",
        ),
    )
    order = await until_in_timeline(shop, order_id, member, StockReallocatedV1.event_type)
    assert trace(order) == [
        {"lot": "LOT-B", "quantity": 1, "trace_code": "TC-B-1"},
        {"lot": "LOT-C", "quantity": 2, "trace_code": "TC-C-1"},
    ]
    assert order["status"] == "CONFIRMED"


async def test_a_v1_commit_is_read_as_v2_without_lots(
    shop: Shop, kafka_bootstrap_servers: str
) -> None:
    member = shop.member()
    order_id, sku = await confirmed(shop, kafka_bootstrap_servers, member, quantity=1)
    await send(
        shop.producer,
        StockCommittedV1(order_id=order_id, lines=[StockLine(sku=sku, quantity=1)]),
    )
    order = await until_in_timeline(shop, order_id, member, StockCommittedV1.event_type)
    assert (order["status"], trace(order)) == ("CONFIRMED", [])


async def test_a_withdrawn_lot_cancels_a_confirmed_order_once(
    shop: Shop, kafka_bootstrap_servers: str
) -> None:
    member = shop.member()
    order_id, sku = await confirmed(shop, kafka_bootstrap_servers, member)
    withdrawn = StockWithdrawnV1(
        order_id=order_id, sku=sku, lot="LOT-A", quantity=3, reason="RECALLED"
    )
    await send_three_times(shop, withdrawn)
    await send(
        shop.producer,
        StockReleasedV1(
            order_id=order_id, lines=[StockLine(sku=sku, quantity=3)], reason="RECALLED"
        ),
    )
    order = await until_in_timeline(shop, order_id, member, StockReleasedV1.event_type)
    await assert_cancelled_once(
        kafka_bootstrap_servers, order, StockWithdrawnV1.event_type, "RECALLED"
    )


async def test_a_withdrawn_lot_cancels_an_order_awaiting_payment_and_a_late_answer_changes_nothing(
    shop: Shop, kafka_bootstrap_servers: str
) -> None:
    member = shop.member()
    order_id, sku = await awaiting_payment(shop, kafka_bootstrap_servers, member)
    await send(
        shop.producer,
        StockWithdrawnV1(order_id=order_id, sku=sku, lot="LOT-A", quantity=3, reason="LOT_EXPIRED"),
    )
    cancelled = await order_state(shop, order_id, member, "CANCELLED")
    assert cancelled["reason"] == "LOT_EXPIRED"

    await authorize(shop, order_id)  # payment answers after the cancellation
    late_commit = StockCommittedV2(
        order_id=order_id,
        lines=[CommittedLine(sku=sku, quantity=3, allocations=[])],
    )
    await send(shop.producer, late_commit)
    order = await until_in_timeline(shop, order_id, member, StockCommittedV2.event_type)
    assert PaymentAuthorizedV1.event_type in [e["type"] for e in order["timeline"]]
    assert (order["status"], order["reason"]) == ("CANCELLED", "LOT_EXPIRED")
    cancellations = await published(kafka_bootstrap_servers, order_id, OrderCancelledV1.event_type)
    assert [c["was_confirmed"] for c in cancellations] == [False]  # payment voids, not refunds
    assert await published(kafka_bootstrap_servers, order_id, OrderConfirmedV1.event_type) == []


async def test_a_withdrawal_after_shipment_changes_nothing(
    shop: Shop, kafka_bootstrap_servers: str
) -> None:
    member = shop.member()
    order_id, sku = await confirmed(shop, kafka_bootstrap_servers, member)
    shipped = await shop.order.post(f"/api/v1/admin/orders/{order_id}/ship", headers=shop.admin)
    assert shipped.status_code == 202, shipped.text
    await send(
        shop.producer,
        StockWithdrawnV1(order_id=order_id, sku=sku, lot="LOT-A", quantity=3, reason="RECALLED"),
    )
    order = await until_in_timeline(shop, order_id, member, StockWithdrawnV1.event_type)
    assert order["status"] == "SHIPPED"
    assert await published(kafka_bootstrap_servers, order_id, OrderCancelledV1.event_type) == []


async def test_a_recalled_order_is_returnable_after_the_window(
    shop: Shop, kafka_bootstrap_servers: str
) -> None:
    member = shop.member()
    order_id, sku = await confirmed(shop, kafka_bootstrap_servers, member)
    for action in ("ship", "deliver"):
        moved = await shop.order.post(
            f"/api/v1/admin/orders/{order_id}/{action}", headers=shop.admin
        )
        assert moved.status_code == 202, moved.text
    async with shop.order_runtime.database.transaction() as session:
        # Delivered a month ago: well past ORDER_RETURN_WINDOW_DAYS (7).
        connection = await session.connection()
        await connection.execute(
            sa.text(
                "UPDATE order_timeline SET at = at - interval '30 days'"
                " WHERE order_id = :o AND event_type = 'order.order.delivered'"
            ),
            {"o": order_id},
        )
    late = await shop.order.post(f"/api/v1/orders/{order_id}/returns", headers=member)
    assert late.status_code == 409, late.text
    assert late.json()["type"].endswith("/return-window-closed")
    assert (await read(shop, order_id, member))["recalled_at"] is None

    recalled_at = datetime(2026, 12, 8, 10, 0, tzinfo=UTC)
    notice = RecallCustomerAffectedV1(
        recall_id="recall-1",
        order_id=order_id,
        member_id=(await read(shop, order_id, member))["member_id"],
        sku=sku,
        product_name="Oolong",
        lot="LOT-A",
        quantity=3,
        trace_codes=["TC-A-1"],
        reason="Listeria found in a sample",
        recalled_at=recalled_at,
    )
    await send(shop.producer, notice)
    order = await until_in_timeline(shop, order_id, member, RecallCustomerAffectedV1.event_type)
    assert datetime.fromisoformat(order["recalled_at"]) == recalled_at
    assert order["status"] == "DELIVERED"

    returned = await shop.order.post(f"/api/v1/orders/{order_id}/returns", headers=member)
    assert returned.status_code == 202, returned.text
    assert returned.json()["status"] == "REFUNDED"
