from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest

from catalog_service.config import CatalogSettings
from catalog_service.deps import CatalogRuntime
from catalog_service.domain.food import DEFAULT_FOOD_CATEGORIES
from catalog_service.main import create_app
from chassis.testing.service import RunningService, ServersUnderTest, serve_with_client
from chassis.testing.tokens import TestTokenIssuer, bearer


@dataclass
class Catalog(RunningService[CatalogSettings, CatalogRuntime]):
    admin: dict[str, str]
    customer: dict[str, str]


@pytest.fixture
def catalog_settings(
    servers_under_test: ServersUnderTest, kafka_bootstrap_servers: str
) -> Callable[[], Any]:
    async def make() -> CatalogSettings:
        return await servers_under_test.settings(
            CatalogSettings,
            "catalog",
            kafka_bootstrap_servers=kafka_bootstrap_servers,
            log_json=True,
            beacon_flush_seconds=0.05,
        )

    return make


async def running_catalog(
    settings: CatalogSettings, token_issuer: TestTokenIssuer, *, start_relay: bool = True
) -> AsyncIterator[Catalog]:
    app = create_app(settings, start_relay=start_relay)
    async with serve_with_client(app) as http:
        admin, customer = bearer(token_issuer.admin_token()), bearer(token_issuer.token())
        yield Catalog(app, http, settings, admin, customer)


@pytest.fixture
async def catalog(
    catalog_settings: Callable[[], Any], token_issuer: TestTokenIssuer
) -> AsyncIterator[Catalog]:
    async for running in running_catalog(await catalog_settings(), token_issuer):
        yield running


# The food attributes product_body adds to a product of a food category (tea by default).
TEA_FOOD: dict[str, Any] = {
    "shelf_life_days": 540,
    "storage_class": "AMBIENT",
    "allergens": [],
    "ingredients": ["green tea", "jasmine flowers"],
    "certifications": ["ORGANIC", "GEOGRAPHICAL_INDICATION"],
    "origin": {"country": "CN", "region": "Fujian", "producer": "Fuzhou Jasmine Tea Co."},
}


def product_body(sku_prefix: str, **overrides: Any) -> dict[str, Any]:
    """A product create body; one of a food category gets TEA_FOOD unless `food` is given."""
    body: dict[str, Any] = {
        "name": "Jasmine green tea",
        "description": "Spring harvest, 250 g tin",
        "category": "tea",
        "attributes": {"origin": "Fujian"},
        "images": ["https://img.example/tea.jpg"],
        "skus": [
            {"sku": f"{sku_prefix}-250", "price": {"amount": 6800, "currency": "CNY"}},
            {"sku": f"{sku_prefix}-500", "price": {"amount": 12800, "currency": "CNY"}},
        ],
    }
    body.update(overrides)
    if "food" not in overrides and body["category"] in DEFAULT_FOOD_CATEGORIES:
        body["food"] = TEA_FOOD
    return body
