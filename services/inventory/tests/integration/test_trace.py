"""The public trace lookup (溯源): an order placed, confirmed, shipped and delivered through the
broker, then `GET /api/v1/trace/{code}` without a login: where the units come from and where
they have been, and nothing about who bought them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import select

from chassis.producer import EventProducer
from chassis.testing.events import send
from inventory_service.domain.lots import new_trace_code
from inventory_service.tables import ALLOCATIONS
from shared_events.order import OrderDeliveredV1, OrderShippedV1

from .conftest import (
    Inventory,
    confirmed,
    has,
    inventory_events,
    new_order_id,
    order_placed,
    sku,
)
from .lot_support import PROBLEM, confirm, place, receive_lot, today

pytestmark = pytest.mark.integration

RESERVED, COMMITTED = "inventory.stock.reserved", "inventory.stock.committed"
MEMBER = "member-7f3a9c-secret"


async def test_a_delivered_order_s_trace_tells_the_lot_s_story_and_nothing_about_the_buyer(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    code, order_id = sku("oolong"), new_order_id()
    inspected = datetime.now(UTC) - timedelta(days=2)
    expiry = today(inventory) + timedelta(days=700)
    await receive_lot(
        inventory,
        code,
        "ANXI-2026-11-A",
        20,
        expiry,
        origin={"country": "CN", "region": "Fujian, Anxi", "producer": "Longjuan Tea Co-op"},
        production_date="2026-11-02",
        storage_class="CHILLED",
        inspection_ref="CIQ-2026-118842",
        inspected_at=inspected.isoformat(),
    )
    placed = order_placed(order_id, [(code, 2)]).model_copy(update={"member_id": MEMBER})
    await send(producer, placed, correlation_id=order_id)
    await inventory_events(kafka_bootstrap_servers, order_id, until=has(RESERVED))
    await send(producer, confirmed(order_id), correlation_id=order_id)
    published = await inventory_events(kafka_bootstrap_servers, order_id, until=has(COMMITTED))
    [v2] = [e for e in published if e.type == COMMITTED and e.dataversion == 2]
    [allocation] = v2.data["lines"][0]["allocations"]
    trace_code = allocation["trace_code"]
    await send(producer, OrderShippedV1(order_id=order_id, member_id=MEMBER))
    delivered = await send(producer, OrderDeliveredV1(order_id=order_id, member_id=MEMBER))
    await inventory.handled(delivered)

    response = await inventory.http.get(f"/api/v1/trace/{trace_code}")  # no login

    assert response.status_code == 200, response.text
    body = response.json()
    assert body["trace_code"] == trace_code and body["quantity"] == 2
    assert body["product"] == {"sku": code, "name": f"Product {code}"}
    assert body["lot"] == {
        "code": "ANXI-2026-11-A",
        "status": "SELLABLE",
        "origin": {"country": "CN", "region": "Fujian, Anxi", "producer": "Longjuan Tea Co-op"},
        "production_date": "2026-11-02",
        "expiry_date": expiry.isoformat(),
        "storage_class": "CHILLED",
        "inspection_ref": "CIQ-2026-118842",
    }
    assert body["recalled"] is False
    steps = [step["step"] for step in body["custody"]]
    # Inspected at the producer before the warehouse received it; then the order's steps.
    assert steps == ["INSPECTED", "RECEIVED", "ALLOCATED", "SHIPPED", "DELIVERED"]
    times = [datetime.fromisoformat(step["at"]) for step in body["custody"]]
    assert times == sorted(times)
    assert times[0] == inspected
    assert body["custody"][0]["detail"] == "CIQ-2026-118842"
    text = response.text.lower()
    for secret in (MEMBER, order_id, "member", "order", "buyer", "customer", "address"):
        assert secret.lower() not in text, f"the trace reveals {secret!r}"


async def test_codes_are_read_leniently_and_refused_as_problems(inventory: Inventory) -> None:
    code, order_id = sku("puer"), new_order_id()
    await receive_lot(inventory, code, "PUER-1", 5, None)
    await place(inventory.runtime, order_id, [(code, 1)], MEMBER)
    await confirm(inventory.runtime, order_id)
    async with inventory.database.sessions() as session:
        trace_code = (
            await session.exec(
                select(ALLOCATIONS.c.trace_code).where(ALLOCATIONS.c.order_id == order_id)
            )
        ).one()
    assert trace_code is not None
    # As a customer types it from a label: lower case, in groups of four.
    typed = "-".join(trace_code[i : i + 4] for i in range(0, 16, 4)).lower()
    for variant in (typed, trace_code.lower(), f" {trace_code} "):
        answer = await inventory.http.get(f"/api/v1/trace/{variant}")
        assert answer.status_code == 200, (variant, answer.text)
        assert answer.json()["trace_code"] == trace_code
        steps = [step["step"] for step in answer.json()["custody"]]
        assert steps[-1] == "ALLOCATED"  # committed, not shipped yet

    unknown = await inventory.http.get(f"/api/v1/trace/{new_trace_code()}")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == PROBLEM
    for malformed in ("UUUUUUUUUUUUUUUU", "SHORT", "7K3M9QX2D4F8HJ6T!", "x" * 30):
        refused = await inventory.http.get(f"/api/v1/trace/{malformed}")
        assert refused.status_code == 422, (malformed, refused.text)
        assert refused.headers["content-type"] == PROBLEM
