"""Food attributes over HTTP on PostgreSQL: required in food categories, refused elsewhere,
shown by every product read, replaced by PATCH, and carried by the product events."""

from __future__ import annotations

import copy
import uuid
from typing import Any

import jsonschema
import pytest
from sqlmodel import func, select

from catalog_service.tables import ProductRow
from chassis.testing.kafka import header
from shared_events import from_kafka

from .conftest import TEA_FOOD, Catalog, product_body
from .test_catalog_events import committed_schema, events_of

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"
PRODUCTS = "/api/v1/admin/products"


def food(**changes: Any) -> dict[str, Any]:
    body = copy.deepcopy(TEA_FOOD)
    body.update(changes)
    return body


async def create(catalog: Catalog, **overrides: Any) -> dict[str, Any]:
    body = product_body(f"food-{uuid.uuid4().hex[:8]}", **overrides)
    response = await catalog.http.post(PRODUCTS, json=body, headers=catalog.admin)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    return product


async def product_count(catalog: Catalog) -> int:
    async with catalog.app.state.runtime.database.sessions() as session:
        return int((await session.exec(select(func.count()).select_from(ProductRow))).one())


def refused_fields(response: Any) -> list[list[Any]]:
    """The `loc` of every refused field in a 422 validation problem."""
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return [error["loc"] for error in response.json()["errors"]]


async def test_a_food_product_reads_back_everywhere_with_its_food_attributes(
    catalog: Catalog,
) -> None:
    tag = uuid.uuid4().hex[:6]
    honey = food(
        shelf_life_days=730,
        storage_class="AMBIENT",
        allergens=[],
        ingredients=["acacia honey"],
        certifications=["GREEN_FOOD"],
        origin={"country": "CN", "region": "Shaanxi", "producer": "Qinling Apiary"},
    )
    created = await create(catalog, name=f"Acacia honey {tag}", category="food", food=honey)
    assert created["food"] == honey
    kettle = await create(catalog, name=f"Iron kettle {tag}", category="kettles")
    assert kettle["food"] is None
    for product in (created, kettle):
        published = await catalog.http.post(
            f"{PRODUCTS}/{product['id']}/publish", headers=catalog.admin
        )
        assert published.status_code == 200, published.text

    one = (await catalog.http.get(f"/api/v1/products/{created['id']}")).json()
    admin_one = (
        await catalog.http.get(f"{PRODUCTS}/{created['id']}", headers=catalog.admin)
    ).json()
    listed = (await catalog.http.get("/api/v1/products", params={"q": tag})).json()["items"]
    admin_listed = (
        await catalog.http.get(PRODUCTS, params={"q": tag}, headers=catalog.admin)
    ).json()["items"]
    assert one["food"] == admin_one["food"] == honey
    for page in (listed, admin_listed):
        assert {p["name"]: p["food"] for p in page} == {
            f"Acacia honey {tag}": honey,
            f"Iron kettle {tag}": None,
        }


async def test_optional_food_attributes_default_to_empty(catalog: Catalog) -> None:
    minimal = {"shelf_life_days": 7, "storage_class": "CHILLED"}
    created = await create(catalog, category="dairy", food=minimal)
    assert created["food"] == {
        "shelf_life_days": 7,
        "storage_class": "CHILLED",
        "allergens": [],
        "ingredients": [],
        "certifications": [],
        "origin": None,
    }


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"shelf_life_days": 0}, ["shelf_life_days"]),
        ({"shelf_life_days": -3}, ["shelf_life_days"]),
        ({"shelf_life_days": 3651}, ["shelf_life_days"]),
        ({"shelf_life_days": "30"}, ["shelf_life_days"]),
        ({"shelf_life_days": 1.5}, ["shelf_life_days"]),
        ({"shelf_life_days": None}, ["shelf_life_days"]),
        ({"storage_class": "chilled"}, ["storage_class"]),
        ({"storage_class": "WARM"}, ["storage_class"]),
        ({"allergens": ["NUTS"]}, ["allergens", 0]),
        ({"allergens": ["MILK", "MILK"]}, ["allergens"]),
        ({"allergens": "MILK"}, ["allergens"]),
        ({"ingredients": [""]}, ["ingredients", 0]),
        ({"ingredients": ["   "]}, ["ingredients", 0]),
        ({"ingredients": ["tea\x00"]}, ["ingredients", 0]),
        ({"ingredients": [42]}, ["ingredients", 0]),
        ({"ingredients": ["x" * 201]}, ["ingredients", 0]),
        ({"ingredients": ["salt"] * 101}, ["ingredients"]),
        ({"certifications": ["ISO_9001"]}, ["certifications", 0]),
        ({"certifications": ["HALAL", "HALAL"]}, ["certifications"]),
        ({"origin": {"country": "XX", "producer": "P"}}, ["origin", "country"]),
        ({"origin": {"country": "cn", "producer": "P"}}, ["origin", "country"]),
        ({"origin": {"country": "CHN", "producer": "P"}}, ["origin", "country"]),
        ({"origin": {"country": "CN"}}, ["origin", "producer"]),
        ({"origin": {"country": "CN", "producer": ""}}, ["origin", "producer"]),
        ({"origin": {"country": "CN", "region": "", "producer": "P"}}, ["origin", "region"]),
        ({"origin": "China"}, ["origin"]),
        ({"best_before": "2027-01-01"}, ["best_before"]),
    ],
)
async def test_a_malformed_food_value_is_a_422_naming_the_field(
    catalog: Catalog, changes: dict[str, Any], field: list[Any]
) -> None:
    before = await product_count(catalog)
    body = product_body(f"bad-{uuid.uuid4().hex[:6]}", food=food(**changes))
    response = await catalog.http.post(PRODUCTS, json=body, headers=catalog.admin)
    assert ["body", "food", *field] in refused_fields(response)
    assert await product_count(catalog) == before


async def test_a_missing_required_food_value_is_a_422_naming_the_field(catalog: Catalog) -> None:
    body = product_body(f"bad-{uuid.uuid4().hex[:6]}", food={"storage_class": "FROZEN"})
    response = await catalog.http.post(PRODUCTS, json=body, headers=catalog.admin)
    assert ["body", "food", "shelf_life_days"] in refused_fields(response)


async def test_food_category_requires_and_other_categories_refuse_food_attributes(
    catalog: Catalog,
) -> None:
    before = await product_count(catalog)
    without = await catalog.http.post(
        PRODUCTS, json=product_body(f"t-{uuid.uuid4().hex[:6]}", food=None), headers=catalog.admin
    )
    assert without.status_code == 422 and without.headers["content-type"] == PROBLEM
    problem = without.json()
    assert problem["type"].endswith("/food-attributes-required")
    assert problem["detail"].startswith("food:") and "'tea'" in problem["detail"]

    kettle = product_body(f"k-{uuid.uuid4().hex[:6]}", category="kettles", food=TEA_FOOD)
    refused = await catalog.http.post(PRODUCTS, json=kettle, headers=catalog.admin)
    assert refused.status_code == 422 and refused.headers["content-type"] == PROBLEM
    assert refused.json()["type"].endswith("/food-attributes-not-allowed")
    assert await product_count(catalog) == before


async def test_patch_replaces_checks_and_removes_food_attributes(catalog: Catalog) -> None:
    product = await create(catalog)
    path = f"{PRODUCTS}/{product['id']}"

    chilled = food(shelf_life_days=30, storage_class="CHILLED", allergens=["MILK"])
    patched = await catalog.http.patch(path, json={"food": chilled}, headers=catalog.admin)
    assert patched.status_code == 200, patched.text
    assert patched.json()["food"] == chilled and patched.json()["version"] == 2

    bad = await catalog.http.patch(
        path, json={"food": food(allergens=["PEANUT"])}, headers=catalog.admin
    )
    assert ["body", "food", "allergens", 0] in refused_fields(bad)
    # Food attributes stay while the category stays food; a move out of food must drop them.
    dropped = await catalog.http.patch(path, json={"food": None}, headers=catalog.admin)
    assert dropped.status_code == 422
    assert dropped.json()["type"].endswith("/food-attributes-required")
    kept = await catalog.http.patch(path, json={"category": "teaware"}, headers=catalog.admin)
    assert kept.status_code == 422
    assert kept.json()["type"].endswith("/food-attributes-not-allowed")

    moved = await catalog.http.patch(
        path, json={"category": "teaware", "food": None}, headers=catalog.admin
    )
    assert moved.status_code == 200, moved.text
    assert (moved.json()["category"], moved.json()["food"]) == ("teaware", None)
    back = await catalog.http.patch(path, json={"category": "tea"}, headers=catalog.admin)
    assert back.status_code == 422
    assert back.json()["type"].endswith("/food-attributes-required")

    read = (await catalog.http.get(path, headers=catalog.admin)).json()
    assert (read["category"], read["food"], read["version"]) == ("teaware", None, 3)


async def test_product_events_carry_the_food_attributes(
    catalog: Catalog, kafka_bootstrap_servers: str
) -> None:
    product = await create(catalog)
    frozen = food(shelf_life_days=365, storage_class="FROZEN", ingredients=["dumplings"])
    patched = await catalog.http.patch(
        f"{PRODUCTS}/{product['id']}", json={"food": frozen}, headers=catalog.admin
    )
    assert patched.status_code == 200, patched.text

    records = await events_of(kafka_bootstrap_servers, product["id"], 2)
    by_type = {header(r, "ce_type"): from_kafka(r.value, r.headers) for r in records}
    created, updated = by_type["catalog.product.created"], by_type["catalog.product.updated"]
    assert created.data["food"] == TEA_FOOD
    assert updated.data["food"] == frozen and updated.data["changed"] == ["food"]
    for envelope in (created, updated):
        jsonschema.validate(envelope.data, committed_schema(envelope.type, 1))
