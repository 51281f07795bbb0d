"""The gateway in front of a real catalog, on real ports, PostgreSQL, Redis and the broker."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from catalog_service.config import CatalogSettings
from catalog_service.main import create_app as create_catalog
from chassis.cache import create_redis
from chassis.testing.infra import DatabaseFactory, free_port
from chassis.testing.serving import serve_app
from chassis.testing.tokens import TestTokenIssuer
from gateway_service import api
from gateway_service.config import GatewaySettings
from gateway_service.main import create_app as create_gateway

pytestmark = pytest.mark.integration
PROBLEM = "application/problem+json"


@dataclass
class Edge:
    http: httpx.AsyncClient
    catalog: httpx.AsyncClient
    admin: dict[str, str]
    issuer: TestTokenIssuer
    metrics_url: str = ""
    redis_url: str = ""
    redis_key_prefix: str = ""


@pytest.fixture
async def edge(
    create_database: DatabaseFactory,
    kafka_bootstrap_servers: str,
    redis_url: str,
    redis_key_prefix: str,
    token_issuer: TestTokenIssuer,
) -> AsyncIterator[Edge]:
    common: dict[str, Any] = {
        "kafka_bootstrap_servers": kafka_bootstrap_servers,
        "redis_url": redis_url,
        "redis_key_prefix": redis_key_prefix,
        "jwks_url": token_issuer.jwks_url,  # type: ignore[attr-defined]
        "environment": "test",
    }
    catalog = create_catalog(
        CatalogSettings(database_url=await create_database("catalog"), **common)
    )
    metrics_port = free_port()
    async with serve_app(catalog) as catalog_url:
        gateway = create_gateway(
            GatewaySettings(
                catalog_url=catalog_url,
                order_url=f"http://127.0.0.1:{free_port()}",  # nothing listens there
                # Nor here: product reads go out as the catalog sent them (no availability).
                inventory_url=f"http://127.0.0.1:{free_port()}",
                rate_per_client_per_minute=40,
                breaker_failures=2,
                breaker_reset_seconds=30,
                max_body_bytes=2048,
                metrics_port=metrics_port,
                **common,
            )
        )
        async with (
            serve_app(gateway) as gateway_url,
            httpx.AsyncClient(base_url=gateway_url, timeout=10) as http,
            httpx.AsyncClient(base_url=catalog_url, timeout=10) as direct,
        ):
            yield Edge(
                http=http,
                catalog=direct,
                admin={"Authorization": f"Bearer {token_issuer.admin_token()}"},
                issuer=token_issuer,
                metrics_url=f"http://127.0.0.1:{metrics_port}/metrics",
                redis_url=redis_url,
                redis_key_prefix=redis_key_prefix,
            )


def _b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def product(prefix: str) -> dict[str, Any]:
    return {
        "name": "Longjing",
        "category": "tea",
        "skus": [{"sku": f"{prefix}-1", "price": {"amount": 8800, "currency": "CNY"}}],
        "food": {"shelf_life_days": 540, "storage_class": "AMBIENT"},
    }


async def test_requests_pass_through_with_their_token_and_ids(edge: Edge) -> None:
    created = await edge.http.post(
        "/api/v1/admin/products",
        json=product(f"gw-{uuid.uuid4().hex[:6]}"),
        headers={**edge.admin, "X-Request-Id": "req-123"},
    )
    assert created.status_code == 201, created.text
    assert created.headers["x-request-id"] == "req-123"
    product_id = created.json()["id"]
    published = await edge.http.post(
        f"/api/v1/admin/products/{product_id}/publish", headers=edge.admin
    )
    assert published.json()["status"] == "PUBLISHED"
    via_gateway = await edge.http.get(f"/api/v1/products/{product_id}")
    direct = (await edge.catalog.get(f"/api/v1/products/{product_id}")).json()
    # Inventory does not answer: the product still goes out, without stock figures.
    assert via_gateway.status_code == 200
    assert via_gateway.json() == direct
    assert via_gateway.json()["skus"][0]["available"] is None


@pytest.mark.parametrize(
    ("make", "status"),
    [
        (lambda t: t.token(roles=["admin"], expires_in=-120), 401),
        (lambda t: t.token(roles=["admin"], audience="elsewhere"), 401),
        (lambda t: "garbage", 401),
        # A header that is JSON nested 3,000 deep: once a RecursionError, a 500.
        (lambda t: f"{_b64url(b'[' * 3000)}.e30.AA", 401),
    ],
    ids=["expired", "wrong-audience", "garbage", "nested-json"],
)
async def test_bad_tokens_stop_at_the_gateway(edge: Edge, make: Any, status: int) -> None:
    response = await edge.http.get(
        "/api/v1/admin/products", headers={"Authorization": f"Bearer {make(edge.issuer)}"}
    )
    assert response.status_code == status
    assert response.headers["content-type"] == PROBLEM


async def test_caps_and_unknown_routes_are_problems(edge: Edge) -> None:
    too_big = await edge.http.get("/api/v1/products", params={"size": 500})
    assert too_big.status_code == 422 and too_big.headers["content-type"] == PROBLEM
    body = await edge.http.post("/api/v1/admin/products", content=b"x" * 4096, headers=edge.admin)
    assert body.status_code == 413 and body.headers["content-type"] == PROBLEM
    nowhere = await edge.http.get("/api/v1/nowhere")
    assert nowhere.status_code == 404 and nowhere.headers["content-type"] == PROBLEM
    # Methods the storefront API does not have: a 4xx, from the gateway or the service.
    for method in ("HEAD", "OPTIONS", "TRACE"):
        odd = await edge.http.request(method, "/api/v1/products")
        assert 400 <= odd.status_code < 500, (method, odd.status_code)


async def test_an_unavailable_service_is_a_fast_503_and_its_breaker_opens(edge: Edge) -> None:
    member = {"Authorization": f"Bearer {edge.issuer.token()}"}
    first = await edge.http.get("/api/v1/orders", headers=member)
    second = await edge.http.get("/api/v1/orders", headers=member)
    assert (first.status_code, second.status_code) == (503, 503)
    assert first.headers["content-type"] == PROBLEM and "retry-after" in first.headers
    loop = asyncio.get_running_loop()
    started = loop.time()
    third = await edge.http.get("/api/v1/orders", headers=member)
    assert third.status_code == 503 and "unavailable" in third.json()["detail"]
    assert loop.time() - started < 1.0  # open breaker: no connection attempt at all
    # The catalog, on another breaker, still answers.
    assert (await edge.http.get("/api/v1/products")).status_code == 200


async def test_a_client_over_its_rate_gets_429_with_retry_after(edge: Edge) -> None:
    if time.time() % 60 > 50:  # stay inside one counting window
        await asyncio.sleep(61 - time.time() % 60)
    statuses = [(await edge.http.get("/api/v1/categories")).status_code for _ in range(45)]
    assert statuses == [200] * 40 + [429] * 5
    limited = await edge.http.get("/api/v1/categories")
    assert limited.status_code == 429 and int(limited.headers["retry-after"]) >= 1
    assert limited.headers["content-type"] == PROBLEM


async def test_a_members_request_moves_the_client_and_the_member_counters(edge: Edge) -> None:
    member = f"m-{uuid.uuid4().hex[:8]}"
    headers = {"Authorization": f"Bearer {edge.issuer.token(member)}"}
    redis = create_redis(edge.redis_url)
    try:
        for expected in (1, 2):  # the second time the token comes from the verifier's cache
            assert (await edge.http.get("/api/v1/products", headers=headers)).status_code == 200
            counters = {
                key.decode().split(":")[-3]: int(await redis.get(key))
                for key in await redis.keys(f"{edge.redis_key_prefix}gateway:rate:*")
            }
            assert counters == {"client": expected, "member": expected}, counters
    finally:
        await redis.aclose()


async def test_refused_tokens_still_count_against_the_client(edge: Edge) -> None:
    headers = {"Authorization": "Bearer garbage"}
    statuses = [
        (await edge.http.get("/api/v1/products", headers=headers)).status_code for _ in range(42)
    ]
    assert statuses == [401] * 40 + [429] * 2


async def test_one_openapi_document_for_the_storefront(edge: Edge) -> None:
    document = (await edge.http.get("/openapi.json")).json()
    assert "/api/v1/products" in document["paths"]
    assert "/api/v1/admin/products/{product_id}/publish" in document["paths"]
    assert (await edge.http.get("/docs")).status_code == 200
    ready = await edge.http.get("/readyz")
    assert ready.json()["checks"] == {"redis": "ok"}


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/products/..%2F..%2F..%2Fmetrics",
        "/api/v1/products/%2e%2e/%2e%2e/%2e%2e/openapi.json",
        "/api/v1/products/..%2f..%2f..%2freadyz",
        "/api/v1/categories/..%5C..%5C..%5Cmetrics",
        "/api/v1/products/.%2E/.%2e/.%2E/metrics",
        "/api/v1/products/%C0%AE%C0%AE/metrics",  # overlong UTF-8 for "."
    ],
)
async def test_no_path_leads_around_the_gateway(edge: Edge, path: str) -> None:
    response = await edge.http.get(path)
    assert response.status_code in (400, 404), response.text
    assert response.headers["content-type"] == PROBLEM
    assert "python_gc" not in response.text and '"paths"' not in response.text


async def test_a_trailing_slash_is_a_404_never_a_redirect_to_the_service(edge: Edge) -> None:
    response = await edge.http.get("/api/v1/products/")
    assert response.status_code == 404 and response.headers["content-type"] == PROBLEM
    assert "location" not in response.headers


async def test_control_characters_in_the_path_are_400_and_trip_no_breaker(edge: Edge) -> None:
    for path in ("/api/v1/products/%01", "/api/v1/products/%00x", "/api/v1/products/a%E2%80%AEb"):
        response = await edge.http.get(path)
        assert response.status_code == 400, (path, response.text)
        assert response.headers["content-type"] == PROBLEM
    # breaker_failures is 2: had those counted, the catalog would now be a 503.
    assert (await edge.http.get("/api/v1/products")).status_code == 200
    unicode_digit = await edge.http.get("/api/v1/products", params={"size": "¹"})
    assert unicode_digit.status_code == 422, unicode_digit.text
    control_in_query = await edge.http.get("/api/v1/products?q=%00")
    assert control_in_query.status_code < 500, control_in_query.text


async def test_a_chunked_body_is_cut_off_at_the_cap(edge: Edge) -> None:
    """The 413 arrives while the client is still sending: the gateway never holds the body."""
    url = httpx.URL(str(edge.http.base_url))
    reader, writer = await asyncio.open_connection(url.host, url.port)
    head = (
        f"POST /api/v1/admin/products HTTP/1.1\r\nHost: {url.host}\r\n"
        f"Authorization: {edge.admin['Authorization']}\r\n"
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"
    )
    writer.write(head.encode())
    chunk = b"1000\r\n" + b"x" * 4096 + b"\r\n"
    for _ in range(4):  # 16 KiB of a body that never ends; the cap is 2 KiB
        writer.write(chunk)
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), timeout=10)
    writer.close()
    assert status_line.split()[1] == b"413", status_line


async def test_a_forged_x_forwarded_for_does_not_escape_the_client_limit(edge: Edge) -> None:
    if time.time() % 60 > 50:  # stay inside one counting window
        await asyncio.sleep(61 - time.time() % 60)
    # At once, so that all of them fall in one counting window even on a busy machine.
    responses = await asyncio.gather(
        *(
            edge.http.get("/api/v1/categories", headers={"X-Forwarded-For": f"10.9.{i}.1"})
            for i in range(45)
        )
    )
    statuses = [response.status_code for response in responses]
    assert statuses.count(429) >= 5, sorted(statuses)


async def test_metrics_are_not_on_the_storefront_port(edge: Edge) -> None:
    public = await edge.http.get("/metrics")
    assert public.status_code == 404 and public.headers["content-type"] == PROBLEM
    async with httpx.AsyncClient(timeout=5) as scraper:
        private = await scraper.get(edge.metrics_url)
    assert private.status_code == 200 and "python_gc" in private.text


async def test_storefront_calls_skip_the_router_and_keep_their_ids_and_metrics(
    edge: Edge, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`/api/v1` calls go from the middleware straight to the gateway's handling: the route
    is never run (it would fail here), yet the answers, their request ids, their problem+json
    and the metrics' route label are those the route gave."""

    async def not_taken(*_: Any) -> None:
        raise AssertionError("the router ran an /api/v1 call")

    monkeypatch.setattr(api.API_ROUTE, "handle", not_taken)
    listed = await edge.http.get("/api/v1/products", headers={"X-Request-Id": "direct-1"})
    assert listed.status_code == 200 and listed.headers["x-request-id"] == "direct-1"
    nowhere = await edge.http.get("/api/v1/nowhere", headers={"X-Request-Id": "direct-2"})
    assert nowhere.status_code == 404 and nowhere.headers["content-type"] == PROBLEM
    assert nowhere.headers["x-request-id"] == "direct-2"
    assert nowhere.json()["instance"].endswith("/api/v1/nowhere")
    too_big = await edge.http.get("/api/v1/products", params={"size": 500})
    assert too_big.status_code == 422 and too_big.json()["type"].endswith("/page-size-too-large")
    async with httpx.AsyncClient(timeout=5) as scraper:
        metrics = (await scraper.get(edge.metrics_url)).text
    label = 'route="/api/v1/{path:path}",service="gateway",status="404"'
    assert any(
        line.startswith("http_requests_total{") and label in line for line in metrics.splitlines()
    )


async def test_a_checked_header_sent_twice_is_400(edge: Edge) -> None:
    """The gateway would check one copy and the service act on the other: refused."""
    token = edge.admin["Authorization"]
    for headers in (
        [("Authorization", "x"), ("Authorization", token)],
        [("Authorization", token), ("Idempotency-Key", "k1"), ("Idempotency-Key", "k2")],
        [("Content-Type", "text/plain"), ("Content-Type", "application/json")],
    ):
        response = await edge.http.post("/api/v1/admin/products", content=b"{}", headers=headers)
        assert response.status_code == 400, (headers, response.text)
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"].endswith("/repeated-header")
    # One copy each passes on as before.
    single = await edge.http.get("/api/v1/admin/products", headers=[("Authorization", token)])
    assert single.status_code == 200


async def test_odd_sizes_and_catalog_pages_are_4xx(edge: Edge) -> None:
    huge = await edge.http.get(f"/api/v1/products?size={'9' * 5000}")
    assert huge.status_code == 422 and huge.headers["content-type"] == PROBLEM
    for path in ("/events/a%00.html", f"/events/{'x' * 300}.html", f"/events/{'x/' * 40}.html"):
        page = await edge.http.get(path)
        assert page.status_code == 404, (path, page.text)
