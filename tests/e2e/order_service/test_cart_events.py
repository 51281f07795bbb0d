"""Cart changes are events: `order.cart.item_changed` staged through the outbox with the cart's
transaction, one per real change of a line's quantity, none when it stays the same."""

from __future__ import annotations

import json
import uuid
from typing import Any

import jsonschema
import pytest
from aiokafka import ConsumerRecord

from chassis.testing.kafka import header, read_records
from shared_events import from_kafka, registry
from shared_events.order import CartItemChangedV1
from shared_events.schema_export import schema_path
from shared_events.topics import ORDER_EVENTS

from .conftest import Shop
from .test_order_service import publish_product, wait_for_sale

pytestmark = pytest.mark.integration

CHANGED = CartItemChangedV1.event_type


async def cart_changes(
    bootstrap: str, member_id: str, until: int, *, timeout: float = 15
) -> list[ConsumerRecord[bytes, bytes]]:
    """The member's cart events on order.events (reading on for `timeout` when `until` is more
    than will come, to show nothing else arrived)."""
    return await read_records(
        bootstrap,
        ORDER_EVENTS,
        match=lambda r: r.key == member_id.encode() and header(r, "ce_type") == CHANGED,
        until=lambda kept: len(kept) >= until,
        timeout=timeout,
    )


def quantities(records: list[ConsumerRecord[bytes, bytes]]) -> list[tuple[str, int, int]]:
    found = []
    for record in records:
        data = from_kafka(record.value, record.headers).data
        found.append((data["sku"], data["quantity_before"], data["quantity_after"]))
    return found


async def test_a_change_of_quantity_is_one_event_and_no_change_is_none(
    shop: Shop, kafka_bootstrap_servers: str
) -> None:
    member_id = str(uuid.uuid4())
    member = shop.member(member_id)
    sku = await publish_product(shop, price=1500)
    await wait_for_sale(shop, sku, member)  # the first PUT that succeeds: 0 -> 1

    path = f"/api/v1/cart/items/{sku}"
    same = await shop.order.put(path, json={"quantity": 1}, headers=member)
    assert same.status_code == 200  # 1 -> 1: no event
    more = await shop.order.put(path, json={"quantity": 3}, headers=member)
    assert more.status_code == 200 and more.json()["items"][0]["quantity"] == 3
    refused = await shop.order.put("/api/v1/cart/items/NOPE", json={"quantity": 1}, headers=member)
    assert refused.status_code == 422  # rolled back: no event
    removed = await shop.order.delete(path, headers=member)
    assert removed.status_code == 200 and removed.json()["items"] == []
    missing = await shop.order.delete(path, headers=member)
    assert missing.status_code == 404

    expected = [(sku, 0, 1), (sku, 1, 3), (sku, 3, 0)]
    records = await cart_changes(kafka_bootstrap_servers, member_id, until=3)
    assert quantities(records) == expected
    # Reading on for one more shows that no other change event arrived.
    again = await cart_changes(kafka_bootstrap_servers, member_id, until=4, timeout=2)
    assert quantities(again) == expected
    schema: dict[str, Any] = json.loads(schema_path(registry.spec(CHANGED, 1)).read_text())
    for record in records:
        envelope = from_kafka(record.value, record.headers)
        assert envelope.source == "/services/order" and envelope.subject == member_id
        assert envelope.data["member_id"] == member_id
        jsonschema.validate(envelope.data, schema)
