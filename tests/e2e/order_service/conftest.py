from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from catalog_service.config import CatalogSettings
from catalog_service.main import create_app as create_catalog
from chassis.producer import EventProducer
from chassis.testing.infra import DatabaseFactory
from chassis.testing.serving import serve_app
from chassis.testing.tokens import TestTokenIssuer
from order_service.config import OrderSettings
from order_service.deps import OrderRuntime
from order_service.main import create_app as create_order


@dataclass
class Shop:
    """The catalog (to feed the price read model) and the order service, on real ports."""

    catalog: httpx.AsyncClient
    order: httpx.AsyncClient
    order_app: FastAPI
    producer: EventProducer
    issuer: TestTokenIssuer
    admin: dict[str, str]

    @property
    def order_runtime(self) -> OrderRuntime:
        runtime: OrderRuntime = self.order_app.state.runtime
        return runtime

    def member(self, member_id: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.issuer.token(member_id or str(uuid.uuid4()))}"}


@pytest.fixture
async def shop(
    create_database: DatabaseFactory,
    kafka_bootstrap_servers: str,
    redis_url: str,
    redis_key_prefix: str,
    token_issuer: TestTokenIssuer,
    request: pytest.FixtureRequest,
) -> AsyncIterator[Shop]:
    common: dict[str, Any] = {
        "kafka_bootstrap_servers": kafka_bootstrap_servers,
        "redis_url": redis_url,
        "redis_key_prefix": redis_key_prefix,
        "jwks_url": token_issuer.jwks_url,  # type: ignore[attr-defined]
        "environment": "test",
        "outbox_poll_seconds": 0.05,
    }
    timeout = getattr(request, "param", 30.0)
    catalog = create_catalog(
        CatalogSettings(database_url=await create_database("catalog"), **common)
    )
    order = create_order(
        OrderSettings(
            database_url=await create_database("order"),
            saga_timeout_seconds=timeout,
            timeout_check_seconds=0.2,
            **common,
        )
    )
    producer = EventProducer(kafka_bootstrap_servers)
    await producer.start()
    async with (
        serve_app(catalog) as catalog_url,
        serve_app(order) as order_url,
        httpx.AsyncClient(base_url=catalog_url, timeout=10) as catalog_http,
        httpx.AsyncClient(base_url=order_url, timeout=10) as order_http,
    ):
        yield Shop(
            catalog=catalog_http,
            order=order_http,
            order_app=order,
            producer=producer,
            issuer=token_issuer,
            admin={"Authorization": f"Bearer {token_issuer.admin_token()}"},
        )
    await producer.stop()
