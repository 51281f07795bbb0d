"""The gateway's `/asyncapi.json`: the services' documents merged, one channel per topic."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from chassis.app import ASYNCAPI_DIR, serve_asyncapi
from chassis.testing.infra import free_port
from chassis.testing.serving import serve_app
from gateway_service.config import GatewaySettings
from gateway_service.main import create_app as create_gateway

pytestmark = pytest.mark.integration
SERVICES = ("catalog", "order", "inventory", "payment", "membership", "notification")


def document(name: str) -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads((ASYNCAPI_DIR / f"{name}.json").read_text())
    return loaded


async def test_the_gateway_merges_the_services_documents(
    redis_url: str, redis_key_prefix: str
) -> None:
    # The services' route (chassis.app.serve_asyncapi) on one stub server, a path per service;
    # analytics answers nothing.
    upstreams = FastAPI()
    for name in SERVICES:
        serve_asyncapi(upstreams, f"/{name}/asyncapi.json", ASYNCAPI_DIR / f"{name}.json")
    async with serve_app(upstreams) as stub:
        urls = {f"{name}_url": f"{stub}/{name}" for name in SERVICES}
        gateway = create_gateway(
            GatewaySettings(
                analytics_url=f"http://127.0.0.1:{free_port()}",
                redis_url=redis_url,
                redis_key_prefix=redis_key_prefix,
                metrics_port=0,
                environment="test",
                **urls,
            )
        )
        async with serve_app(gateway) as url, httpx.AsyncClient(base_url=url) as client:
            response = await client.get("/asyncapi.json")
    assert response.status_code == 200
    merged = response.json()
    assert merged["asyncapi"] == "3.0.0"
    assert merged["info"]["x-services-not-answering"] == ["analytics"]
    order_events = merged["channels"]["order_events"]
    assert order_events["address"] == "order.events"
    # Every service's operations, and on one topic every message any of them names.
    for name in SERVICES:
        assert set(document(name)["operations"]) <= set(merged["operations"])
        for cid, channel in document(name)["channels"].items():
            assert set(channel["messages"]) <= set(merged["channels"][cid]["messages"])
    assert {"inventory_receive_inventory_orders", "order_send_order_events"} <= set(
        merged["operations"]
    )
    assert "StockCommittedV2" in merged["components"]["messages"]
