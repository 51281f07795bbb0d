"""Catalog writes over HTTP put CloudEvents on `catalog.events`, through the outbox."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any

import jsonschema
import pytest
from sqlmodel import col, select

from chassis.outbox import OutboxRecord
from chassis.testing.kafka import header, read_keyed
from chassis.testing.tokens import TestTokenIssuer
from shared_events import from_kafka, registry
from shared_events.schema_export import schema_path
from shared_events.topics import CATALOG_EVENTS

from .conftest import Catalog, product_body, running_catalog

pytestmark = pytest.mark.integration

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


def committed_schema(event_type: str, version: int) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(schema_path(registry.spec(event_type, version)).read_text())
    return loaded


async def events_of(bootstrap: str, product_id: str, count: int, timeout: float = 20) -> list[Any]:
    return await read_keyed(bootstrap, CATALOG_EVENTS, product_id, count, timeout=timeout)


async def test_create_and_publish_put_valid_events_on_the_topic(
    catalog: Catalog, kafka_bootstrap_servers: str
) -> None:
    traceparent = f"00-{TRACE_ID}-00f067aa0ba902b7-01"
    created = await catalog.http.post(
        "/api/v1/admin/products",
        json=product_body(f"tea-{uuid.uuid4().hex[:6]}"),
        headers={**catalog.admin, "traceparent": traceparent},
    )
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    assert created.headers["location"].endswith(product_id)
    published = await catalog.http.post(
        f"/api/v1/admin/products/{product_id}/publish", headers=catalog.admin
    )
    assert published.status_code == 200 and published.json()["status"] == "PUBLISHED"

    records = await events_of(kafka_bootstrap_servers, product_id, 2)
    assert [header(r, "ce_type") for r in records] == [
        "catalog.product.created",
        "catalog.product.published",
    ]
    for record in records:
        assert record.key == product_id.encode()
        envelope = from_kafka(record.value, record.headers)
        assert envelope.specversion == "1.0"
        assert envelope.source == "/services/catalog"
        assert envelope.subject == product_id
        assert envelope.datacontenttype == "application/json"
        assert envelope.dataversion == 1
        assert envelope.dataschema.endswith(f"/{envelope.type}/v1.json")
        jsonschema.validate(envelope.data, committed_schema(envelope.type, 1))
    created_event = from_kafka(records[0].value, records[0].headers)
    assert created_event.data["skus"][0]["price"] == {"amount": 6800, "currency": "CNY"}
    # The trace that made the request continues in the event.
    assert (created_event.traceparent or "").split("-")[1] == TRACE_ID


async def test_price_change_and_update_are_published(
    catalog: Catalog, kafka_bootstrap_servers: str
) -> None:
    prefix = f"cup-{uuid.uuid4().hex[:6]}"
    product_id = (
        await catalog.http.post(
            "/api/v1/admin/products", json=product_body(prefix), headers=catalog.admin
        )
    ).json()["id"]
    patched = await catalog.http.patch(
        f"/api/v1/admin/products/{product_id}",
        json={
            "name": "Jasmine tea, first flush",
            "prices": [{"sku": f"{prefix}-250", "price": {"amount": 5900, "currency": "CNY"}}],
        },
        headers=catalog.admin,
    )
    assert patched.status_code == 200, patched.text
    assert patched.json()["version"] == 2
    records = await events_of(kafka_bootstrap_servers, product_id, 3)
    by_type = {header(r, "ce_type"): from_kafka(r.value, r.headers) for r in records}
    assert by_type["catalog.price.changed"].data["old_price"]["amount"] == 6800
    assert by_type["catalog.price.changed"].data["new_price"]["amount"] == 5900
    assert by_type["catalog.product.updated"].data["changed"] == ["name"]
    for envelope in by_type.values():
        jsonschema.validate(envelope.data, committed_schema(envelope.type, 1))


async def test_relay_stopped_after_commit_publishes_after_restart(
    catalog_settings: Callable[[], Any],
    token_issuer: TestTokenIssuer,
    kafka_bootstrap_servers: str,
) -> None:
    settings = await catalog_settings()
    async for down in running_catalog(settings, token_issuer, start_relay=False):
        response = await down.http.post(
            "/api/v1/admin/products",
            json=product_body(f"mug-{uuid.uuid4().hex[:6]}"),
            headers=down.admin,
        )
        assert response.status_code == 201
        product_id = response.json()["id"]
        async with down.app.state.runtime.database.sessions() as session:
            waiting = (
                await session.exec(select(OutboxRecord).where(col(OutboxRecord.sent_at).is_(None)))
            ).all()
        assert [row.subject for row in waiting] == [product_id]
        assert await events_of(kafka_bootstrap_servers, product_id, 1, timeout=1.5) == []

    # The service comes back (same database): the committed event is published.
    async for _restarted in running_catalog(settings, token_issuer):
        records = await events_of(kafka_bootstrap_servers, product_id, 1)
    assert [header(r, "ce_type") for r in records] == ["catalog.product.created"]
