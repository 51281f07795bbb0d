"""The catalog API on PostgreSQL and Redis: visibility, search, cache and bad input."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import func, select

from catalog_service.tables import ProductRow
from chassis.outbox import OutboxRecord
from chassis.testing.tokens import TestTokenIssuer, bearer

from .conftest import Catalog, product_body

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


async def create(catalog: Catalog, publish: bool = True, **overrides: Any) -> dict[str, Any]:
    body = product_body(f"s-{uuid.uuid4().hex[:8]}", **overrides)
    response = await catalog.http.post("/api/v1/admin/products", json=body, headers=catalog.admin)
    assert response.status_code == 201, response.text
    product: dict[str, Any] = response.json()
    if publish:
        response = await catalog.http.post(
            f"/api/v1/admin/products/{product['id']}/publish", headers=catalog.admin
        )
        assert response.status_code == 200, response.text
        product = response.json()
    return product


async def counts(catalog: Catalog) -> tuple[int, int]:
    async with catalog.app.state.runtime.database.sessions() as session:
        products = (await session.exec(select(func.count()).select_from(ProductRow))).one()
        events = (await session.exec(select(func.count()).select_from(OutboxRecord))).one()
    return int(products), int(events)


async def test_storefront_sees_published_products_only(catalog: Catalog) -> None:
    draft = await create(catalog, publish=False, name="Draft kettle", category="kettles")
    live = await create(catalog, name="Iron kettle", category="kettles")

    listed = (await catalog.http.get("/api/v1/products", params={"category": "kettles"})).json()
    assert [p["id"] for p in listed["items"]] == [live["id"]]
    assert listed["total"] == 1 and listed["page"] == 1 and listed["size"] == 20
    assert listed["items"][0]["skus"][0]["price"] == {"amount": 6800, "currency": "CNY"}

    hidden = await catalog.http.get(f"/api/v1/products/{draft['id']}")
    assert hidden.status_code == 404 and hidden.headers["content-type"] == PROBLEM
    seen_by_admin = await catalog.http.get(
        f"/api/v1/admin/products/{draft['id']}", headers=catalog.admin
    )
    assert seen_by_admin.json()["status"] == "DRAFT"

    unpublished = await catalog.http.post(
        f"/api/v1/admin/products/{live['id']}/unpublish", headers=catalog.admin
    )
    assert unpublished.json()["status"] == "UNPUBLISHED"
    assert (await catalog.http.get(f"/api/v1/products/{live['id']}")).status_code == 404


async def test_search_by_text_and_category_with_pagination(catalog: Catalog) -> None:
    tag = uuid.uuid4().hex[:6]
    for i in range(5):
        await create(catalog, name=f"Porcelain cup {tag} #{i}", category="cups")
    await create(catalog, name=f"Porcelain plate {tag}", category="plates")

    first = (
        await catalog.http.get("/api/v1/products", params={"q": f"cup {tag}", "size": 2})
    ).json()
    second = (
        await catalog.http.get("/api/v1/products", params={"q": f"cup {tag}", "size": 2, "page": 3})
    ).json()
    assert first["total"] == 5 and len(first["items"]) == 2
    assert len(second["items"]) == 1
    plates = (
        await catalog.http.get("/api/v1/products", params={"q": tag, "category": "plates"})
    ).json()
    assert [p["name"] for p in plates["items"]] == [f"Porcelain plate {tag}"]
    # LIKE wildcards in the query are literal characters, not patterns.
    assert (await catalog.http.get("/api/v1/products", params={"q": "%"})).json()["total"] == 0
    categories = (await catalog.http.get("/api/v1/categories")).json()
    assert {"category": "plates", "products": 1} in categories


async def test_reads_are_cached_and_writes_invalidate(catalog: Catalog) -> None:
    product = await create(catalog, name="Bamboo tray")
    url = f"/api/v1/products/{product['id']}"
    assert (await catalog.http.get(url)).json()["name"] == "Bamboo tray"
    redis = catalog.app.state.runtime.redis
    cached = [k async for k in redis.scan_iter(f"{catalog.settings.redis_key_prefix}catalog:*")]
    assert any(product["id"].encode() in key for key in cached)

    await catalog.http.patch(
        f"/api/v1/admin/products/{product['id']}",
        json={"name": "Bamboo tea tray"},
        headers=catalog.admin,
    )
    assert (await catalog.http.get(url)).json()["name"] == "Bamboo tea tray"


async def test_listings_of_different_filters_never_share_a_cache_entry(catalog: Catalog) -> None:
    tag = uuid.uuid4().hex[:6]
    await create(catalog, name=f"Clay pot {tag}", category=f"pots-{tag}")
    await create(catalog, name=f"Glass {tag}:b", category=f"jars-{tag}")

    async def total(**params: Any) -> int:
        response = await catalog.http.get("/api/v1/products", params=params)
        assert response.status_code == 200, response.text
        return int(response.json()["total"])

    # Cached first, the filter "None" must not answer for the unfiltered listing, nor the
    # other way round.
    assert await total(category="None") == 0
    assert await total(q="None") == 0
    assert await total() >= 2
    assert await total(q=f"Clay pot {tag}") == 1
    # A ':' inside a filter does not move text from one filter to the other.
    assert await total(category=f"jars-{tag}", q=f"{tag}:b") == 1
    assert await total(category=f"jars-{tag}:{tag}", q="b") == 0


def forged(issuer: TestTokenIssuer) -> str:
    return issuer.token(roles=["admin"], key=Ed25519PrivateKey.generate())


BAD_WRITES = [
    ("unknown-field", lambda b, t: ({**b, "status": "PUBLISHED"}, t.admin_token()), 422),
    (
        "negative-price",
        lambda b, t: (
            {**b, "skus": [{"sku": "neg-1", "price": {"amount": -1, "currency": "CNY"}}]},
            t.admin_token(),
        ),
        422,
    ),
    (
        "float-price",
        lambda b, t: (
            {**b, "skus": [{"sku": "flt-1", "price": {"amount": 9.99, "currency": "CNY"}}]},
            t.admin_token(),
        ),
        422,
    ),
    (
        "missing-currency",
        lambda b, t: ({**b, "skus": [{"sku": "cur-1", "price": {"amount": 100}}]}, t.admin_token()),
        422,
    ),
    (
        "unsupported-currency",
        lambda b, t: (
            {**b, "skus": [{"sku": "cur-2", "price": {"amount": 100, "currency": "XYZ"}}]},
            t.admin_token(),
        ),
        422,
    ),
    ("no-skus", lambda b, t: ({**b, "skus": []}, t.admin_token()), 422),
    (
        "attribute-named-twice-once-trimmed",
        lambda b, t: ({**b, "attributes": {"color": "red", "color ": "blue"}}, t.admin_token()),
        422,
    ),
    ("customer-token", lambda b, t: (b, t.token(roles=["customer"])), 403),
    ("forged-token", lambda b, t: (b, forged(t)), 401),
    ("expired-token", lambda b, t: (b, t.token(roles=["admin"], expires_in=-120)), 401),
    ("wrong-audience", lambda b, t: (b, t.token(roles=["admin"], audience="other")), 401),
    ("no-token", lambda b, t: (b, None), 401),
]


@pytest.mark.parametrize(("case", "make", "status"), BAD_WRITES, ids=[c[0] for c in BAD_WRITES])
async def test_bad_writes_get_problem_json_and_change_nothing(
    catalog: Catalog, token_issuer: TestTokenIssuer, case: str, make: Any, status: int
) -> None:
    before = await counts(catalog)
    body, token = make(product_body(f"bad-{uuid.uuid4().hex[:6]}"), token_issuer)
    response = await catalog.http.post(
        "/api/v1/admin/products", json=body, headers=bearer(token) if token else {}
    )
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    problem = response.json()
    assert problem["status"] == status and problem["title"] and problem["type"].startswith("https")
    assert "Traceback" not in response.text
    assert await counts(catalog) == before


async def test_patch_cannot_set_status_or_reach_foreign_skus(catalog: Catalog) -> None:
    product = await create(catalog, publish=False)
    before = await counts(catalog)
    url = f"/api/v1/admin/products/{product['id']}"
    mass_assign = await catalog.http.patch(url, json={"status": "PUBLISHED"}, headers=catalog.admin)
    foreign = await catalog.http.patch(
        url,
        json={"prices": [{"sku": "nope", "price": {"amount": 1, "currency": "CNY"}}]},
        headers=catalog.admin,
    )
    assert (mass_assign.status_code, foreign.status_code) == (422, 422)
    assert await counts(catalog) == before


async def test_a_sku_named_twice_is_refused_at_creation_and_in_a_price_change(
    catalog: Catalog,
) -> None:
    product = await create(catalog, publish=False)
    sku = product["skus"][0]["sku"]
    before = await counts(catalog)
    url = f"/api/v1/admin/products/{product['id']}"
    twice = [
        {"sku": sku, "price": {"amount": 5900, "currency": "CNY"}},
        {"sku": sku, "price": {"amount": 7900, "currency": "CNY"}},
    ]
    patched = await catalog.http.patch(url, json={"prices": twice}, headers=catalog.admin)
    body = product_body(f"two-{uuid.uuid4().hex[:6]}")
    body["skus"][1]["sku"] = body["skus"][0]["sku"]
    created = await catalog.http.post("/api/v1/admin/products", json=body, headers=catalog.admin)
    for refused in (patched, created):
        assert refused.status_code == 422, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"].endswith("/duplicate-sku")
    # Nothing stored or published: the price and version are as created, no event staged.
    assert await counts(catalog) == before
    now = await catalog.http.get(f"/api/v1/admin/products/{product['id']}", headers=catalog.admin)
    assert now.status_code == 200, now.text
    assert (now.json()["version"], now.json()["skus"][0]["price"]["amount"]) == (1, 6800)


@pytest.mark.parametrize("params", [{"size": 101}, {"size": 0}, {"page": 0}, {"size": "ten"}])
async def test_bad_paging_is_a_problem(catalog: Catalog, params: dict[str, Any]) -> None:
    response = await catalog.http.get("/api/v1/products", params=params)
    assert response.status_code == 422
    assert response.headers["content-type"] == PROBLEM


async def test_lifecycle_rules_are_enforced(catalog: Catalog) -> None:
    product = await create(catalog)
    again = await catalog.http.post(
        f"/api/v1/admin/products/{product['id']}/publish", headers=catalog.admin
    )
    assert again.status_code == 409 and again.json()["type"].endswith("invalid-transition")
    missing = await catalog.http.post(
        f"/api/v1/admin/products/{uuid.uuid4()}/publish", headers=catalog.admin
    )
    assert missing.status_code == 404


async def test_sku_codes_are_unique_across_products(catalog: Catalog) -> None:
    body = product_body(f"dup-{uuid.uuid4().hex[:6]}")
    first = await catalog.http.post("/api/v1/admin/products", json=body, headers=catalog.admin)
    second = await catalog.http.post("/api/v1/admin/products", json=body, headers=catalog.admin)
    assert (first.status_code, second.status_code) == (201, 409)


async def test_health_readiness_and_metrics(catalog: Catalog) -> None:
    assert (await catalog.http.get("/healthz")).json() == {"status": "ok"}
    ready = (await catalog.http.get("/readyz")).json()
    assert ready["checks"] == {"database": "ok", "broker": "ok", "redis": "ok"}
    await catalog.http.get("/api/v1/products")
    metrics = (await catalog.http.get("/metrics")).text
    assert 'http_requests_total{method="GET",route="/api/v1/products",service="catalog"' in metrics
    assert 'outbox_backlog{service="catalog"}' in metrics


async def test_idempotency_key_creates_one_product(catalog: Catalog) -> None:
    body = product_body(f"idem-{uuid.uuid4().hex[:6]}")
    headers = {**catalog.admin, "Idempotency-Key": str(uuid.uuid4())}
    first = await catalog.http.post("/api/v1/admin/products", json=body, headers=headers)
    again = await catalog.http.post("/api/v1/admin/products", json=body, headers=headers)
    other = await catalog.http.post(
        "/api/v1/admin/products", json={**body, "name": "Another"}, headers=headers
    )
    assert (first.status_code, again.status_code, other.status_code) == (201, 201, 422)
    assert again.json()["id"] == first.json()["id"]
    assert again.headers["idempotent-replayed"] == "true"
    assert first.headers["location"].endswith(first.json()["id"])
    listed = await catalog.http.get(
        "/api/v1/admin/products", params={"q": body["name"]}, headers=catalog.admin
    )
    assert [p["id"] for p in listed.json()["items"]] == [first.json()["id"]]
