"""Order to cash across catalog, inventory, payment and order, through Kafka alone."""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from typing import Any

import jsonschema
import pytest
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from chassis import telemetry
from chassis.testing.kafka import read_keyed
from chassis.testing.tokens import TestTokenIssuer
from shared_events import from_kafka, registry
from shared_events.schema_export import schema_path
from shared_events.topics import INVENTORY_EVENTS, ORDER_EVENTS, PAYMENT_EVENTS

from .conftest import Suite, start_suite

pytestmark = pytest.mark.integration

SAGA_TOPICS = (ORDER_EVENTS, INVENTORY_EVENTS, PAYMENT_EVENTS)


@pytest.fixture(scope="module")
def spans() -> InMemorySpanExporter:
    exporter = InMemorySpanExporter()
    telemetry.configure_tracing("e2e-tests", None)
    telemetry.add_span_processor(SimpleSpanProcessor(exporter))
    return exporter


async def saga_events(bootstrap: str, order_id: str, counts: dict[str, int]) -> list[Any]:
    records = []
    for topic in SAGA_TOPICS:
        records += await read_keyed(bootstrap, topic, order_id, counts[topic], timeout=10)
    return [from_kafka(r.value, r.headers) for r in records]


async def test_happy_path_confirms_captures_commits_and_keeps_one_trace(
    suite: Suite, spans: InMemorySpanExporter
) -> None:
    sku = await suite.product(price=2500, stock=10)
    placed = await suite.place(sku, quantity=2, member=suite.member())
    assert placed.status_code == 202, placed.text
    order_id = placed.json()["order_id"]

    order = await suite.settled(order_id, "payment.payment.captured", "inventory.stock.committed")
    assert order["status"] == "CONFIRMED" and order["reason"] is None
    assert order["total"] == {"amount": 5000, "currency": "CNY"}
    assert await suite.effects(order_id) == ("CONFIRMED", "COMMITTED", "CAPTURED")
    stock = await suite.stock(sku)
    assert (stock["on_hand"], stock["reserved"], stock["available"]) == (8, 0, 8)

    # Every event of the saga validates against its committed schema.
    events = await saga_events(
        suite.bootstrap,
        order_id,
        {ORDER_EVENTS: 3, INVENTORY_EVENTS: 2, PAYMENT_EVENTS: 2},
    )
    types = {e.type for e in events}
    assert types >= {
        "order.order.placed",
        "order.payment.requested",
        "order.order.confirmed",
        "inventory.stock.reserved",
        "inventory.stock.committed",
        "payment.payment.authorized",
        "payment.payment.captured",
    }
    for event in events:
        schema = json.loads(schema_path(registry.spec(event.type, event.dataversion)).read_text())
        jsonschema.validate(event.data, schema)

    # One order, one trace: the HTTP request and every consumer that handled its events.
    trace_ids = {(e.traceparent or "").split("-")[1] for e in events}
    assert len(trace_ids) == 1, trace_ids
    (trace_id,) = trace_ids
    handled = [
        s
        for s in spans.get_finished_spans()
        if s.attributes and s.attributes.get("correlation_id") == order_id
    ]
    consumers = {str(s.attributes.get("messaging.consumer")) for s in handled if s.attributes}
    assert {
        "inventory-orders",
        "payment-orders",
        "order-saga-inventory",
        "order-saga-payment",
    } <= consumers
    assert {format(s.context.trace_id, "032x") for s in handled} == {trace_id}
    http_spans = [
        s
        for s in spans.get_finished_spans()
        if format(s.context.trace_id, "032x") == trace_id and "/api/v1/orders" in s.name
    ]
    assert http_spans, "the POST /orders span is in the same trace"
    await suite.check_invariants()


@pytest.mark.parametrize(
    ("token", "price", "quantity", "status", "reason"),
    [
        ("tok_visa", 1000, 11, "REJECTED", "OUT_OF_STOCK"),
        ("tok_chargeDeclined", 1000, 1, "REJECTED", "PAYMENT_DECLINED"),
        ("tok_insufficientFunds", 1000, 1, "REJECTED", "INSUFFICIENT_FUNDS"),
        ("tok_visa", 2_000_000, 1, "REJECTED", "RISK_REJECTED"),
        ("tok_processingError", 1000, 1, "CONFIRMED", None),
    ],
    ids=["out-of-stock", "declined", "insufficient-funds", "risk", "processing-error-recovers"],
)
async def test_each_outcome_is_reached_and_compensated(
    suite: Suite, token: str, price: int, quantity: int, status: str, reason: str | None
) -> None:
    sku = await suite.product(price=price, stock=10)
    placed = await suite.place(sku, quantity=quantity, token=token, member=suite.member())
    assert placed.status_code == 202, placed.text
    order = await suite.settled(placed.json()["order_id"])
    assert (order["status"], order["reason"]) == (status, reason)
    await suite.until_consistent(order["id"])
    stock = await suite.stock(sku)
    expected_on_hand = 10 - quantity if status == "CONFIRMED" else 10
    assert (stock["on_hand"], stock["reserved"]) == (expected_on_hand, 0)
    await suite.check_invariants()


async def test_customer_cancel_after_confirmation_refunds_and_restocks(suite: Suite) -> None:
    member = suite.member()
    sku = await suite.product(price=3000, stock=5)
    order_id = (await suite.place(sku, quantity=2, member=member)).json()["order_id"]
    await suite.settled(order_id, "payment.payment.captured", "inventory.stock.committed")

    cancelled = await suite.http["order"].post(f"/api/v1/orders/{order_id}/cancel", headers=member)
    assert cancelled.status_code == 202, cancelled.text
    order = await suite.settled(order_id, "payment.payment.refunded", "inventory.stock.released")
    assert (order["status"], order["reason"]) == ("CANCELLED", "CANCELLED_BY_CUSTOMER")
    expected = ("CANCELLED", "RELEASED", "REFUNDED")
    assert await suite.until_effects(order_id, expected) == expected
    stock = await suite.stock(sku)
    assert (stock["on_hand"], stock["reserved"]) == (5, 0)
    await suite.check_invariants()


async def test_timeout_cancels_and_late_steps_are_compensated(
    suite_settings: dict[str, Any], token_issuer: TestTokenIssuer
) -> None:
    """Payment is down: the order times out; when payment comes back it authorises the
    stale request and then voids it on the cancellation; stock is released."""
    suite_settings["order"] = suite_settings["order"].model_copy(
        update={"saga_timeout_seconds": 3.0}
    )
    async with AsyncExitStack() as stack:
        suite = await start_suite(
            stack, suite_settings, token_issuer, only=("catalog", "inventory", "order")
        )
        sku = await suite.product(stock=4)
        order_id = (await suite.place(sku, quantity=1, member=suite.member())).json()["order_id"]
        order = await suite.settled(order_id, "inventory.stock.released", timeout=20)
        assert (order["status"], order["reason"]) == ("CANCELLED", "TIMEOUT")
        assert (await suite.stock(sku))["reserved"] == 0

        payment = await start_suite(stack, suite_settings, token_issuer, only=("payment",))
        suite.apps.update(payment.apps)
        suite.http.update(payment.http)
        expected = ("CANCELLED", "RELEASED", "VOIDED")
        assert await suite.until_effects(order_id, expected) == expected
        await suite.check_invariants()


async def test_flash_sale_never_oversells(
    suite_settings: dict[str, Any], token_issuer: TestTokenIssuer
) -> None:
    """200 buyers at once for 50 units: 50 confirmed, 150 out of stock, nothing oversold.
    The saga timeout is raised so that a slow CI machine cannot turn the test into one about
    timeouts."""
    suite_settings["order"] = suite_settings["order"].model_copy(
        update={"saga_timeout_seconds": 300.0}
    )
    async with AsyncExitStack() as stack:
        suite = await start_suite(stack, suite_settings, token_issuer)
        sku = await suite.product(price=990, stock=50)
        buyers = [suite.member() for _ in range(200)]
        responses = await asyncio.gather(*(suite.place(sku, member=m) for m in buyers))
        assert [r.status_code for r in responses] == [202] * 200
        outcomes = await suite.settle_all([r.json()["order_id"] for r in responses])
        by_outcome: dict[tuple[str, str | None], int] = {}
        for outcome in outcomes.values():
            by_outcome[outcome] = by_outcome.get(outcome, 0) + 1
        assert by_outcome == {("CONFIRMED", None): 50, ("REJECTED", "OUT_OF_STOCK"): 150}
        await suite.check_invariants()
        stock = await suite.stock(sku)
        assert (stock["on_hand"], stock["reserved"], stock["available"]) == (0, 0, 0)
