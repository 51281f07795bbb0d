"""The storefront API through the gateway, as the benchmark's clients use it: admin seeding, a
pool of members, orders and product views.

The driver runs on the machine it measures, so its own CPU counts against the suite's. The hot
requests (orders, product views, the no-op baseline) go through one aiohttp session: ~0.3-0.5 ms
of client CPU per request, where httpx took 2-4 ms (bench/upstream_client.py). Set-up calls
(registration, login, admin seeding) stay on a few httpx clients with pools. A transport error
of either is one of `TRANSPORT_ERRORS`."""

from __future__ import annotations

import asyncio
import itertools
import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any, TypeVar

import aiohttp
import httpx

from bench.stats import percentile

ADDRESS = {
    "name": "Bench Buyer",
    "phone": "+86 139 0000 0000",
    "line1": "1 Benchmark Road",
    "city": "Shanghai",
    "postal_code": "200001",
    "country": "CN",
}
# Set-up calls (seeding, registration, login) are retried on these, with backoff: a busy
# upstream times out at the gateway, whose breaker then answers 503 for a while.
RETRIED = {429, 502, 503, 504}
SETUP_ATTEMPTS = 6
PASSWORD = "bench-password-123"  # noqa: S105 - throwaway members of a throwaway suite
TIMEOUT_SECONDS = 30.0  # connect (a free pooled connection included) and each read
# Below uvicorn's keep-alive (5 s): an idle connection is dropped here before the gateway
# closes it, rather than reused as the gateway closes it.
KEEPALIVE_SECONDS = 4.0
# What a request of the driver can fail with short of an HTTP answer: aiohttp's (the hot
# requests; asyncio.TimeoutError is its timeout) and httpx's (set-up calls).
TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    aiohttp.ClientError,
    asyncio.TimeoutError,
    httpx.HTTPError,
)
Headers = dict[str, str]


class StorefrontError(RuntimeError):
    pass


@dataclass(eq=False)
class Reply:
    """An answer to a hot request, read whole: what the bench reads of an httpx.Response."""

    method: str
    path: str
    status_code: int
    headers: Mapping[str, str]  # aiohttp's, case-insensitive
    content: bytes

    @property
    def is_success(self) -> bool:
        return 200 <= self.status_code < 300

    @cached_property
    def text(self) -> str:
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        return json.loads(self.content)


R = TypeVar("R", httpx.Response, Reply)


def expect(response: R, *statuses: int) -> R:
    if response.status_code not in statuses:
        if isinstance(response, Reply):
            method, path = response.method, response.path
        else:
            method, path = response.request.method, response.request.url.path
        raise StorefrontError(f"{method} {path}: {response.status_code} {response.text[:300]}")
    return response


def bearer(tokens: httpx.Response) -> Headers:
    return {"Authorization": f"Bearer {tokens.json()['access_token']}"}


class Storefront:
    """Hot requests: one aiohttp session with a pool of `clients` x `connections` (the
    connections the httpx clients had between them when they sent orders too). Set-up
    requests: `clients` httpx clients, used in turn, each with a pool of `connections`."""

    def __init__(self, gateway: str, clients: int, connections: int) -> None:
        self.gateway = gateway.rstrip("/")
        self.connections = clients * connections
        limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
        timeout = TIMEOUT_SECONDS
        self.clients = [
            httpx.AsyncClient(base_url=gateway, limits=limits, timeout=timeout, trust_env=False)
            for _ in range(clients)
        ]
        self._turn = itertools.cycle(self.clients)
        self._session: aiohttp.ClientSession | None = None
        self.product_ids: dict[str, str] = {}  # the product of each SKU product() seeded

    def http(self) -> httpx.AsyncClient:
        """A set-up client (the next in turn)."""
        return next(self._turn)

    def session(self) -> aiohttp.ClientSession:
        """The hot requests' session, made on first use (inside the running loop)."""
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(
                limit=self.connections, limit_per_host=0, keepalive_timeout=KEEPALIVE_SECONDS
            )
            timeout = aiohttp.ClientTimeout(
                total=None,
                connect=TIMEOUT_SECONDS,
                sock_connect=TIMEOUT_SECONDS,
                sock_read=TIMEOUT_SECONDS,
            )
            self._session = aiohttp.ClientSession(
                self.gateway,
                connector=connector,
                timeout=timeout,
                trust_env=False,  # no proxies from the environment (aiohttp's default too)
                cookie_jar=aiohttp.DummyCookieJar(),  # members are told apart by their token
            )
        return self._session

    async def request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        headers: Headers | None = None,
    ) -> Reply:
        """A hot request through the aiohttp session, its answer read whole. Raises one of
        `TRANSPORT_ERRORS` when there is no answer."""
        data, sent = None, headers
        if body is not None:
            data = json.dumps(body, separators=(",", ":")).encode()
            sent = {**(headers or {}), "Content-Type": "application/json"}
        async with self.session().request(method, path, data=data, headers=sent) as response:
            content = await response.read()
            return Reply(method, path, response.status, response.headers, content)

    async def close(self) -> None:
        session, self._session = self._session, None
        await asyncio.gather(
            *(c.aclose() for c in self.clients), *([session.close()] if session else [])
        )

    async def setup(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """A set-up request, retried with backoff on a busy answer or a transport error."""
        for attempt in range(SETUP_ATTEMPTS):
            last = attempt == SETUP_ATTEMPTS - 1
            try:
                response = await self.http().request(method, path, **kwargs)
                if response.status_code not in RETRIED or last:
                    return response
            except httpx.TransportError:
                if last:
                    raise
            await asyncio.sleep(0.5 * 2**attempt)
        raise AssertionError("unreachable")

    async def login(self, email: str, password: str) -> Headers:
        body = {"email": email, "password": password}
        return bearer(expect(await self.setup("POST", "/api/v1/auth/login", json=body), 200))

    async def member(self, email: str) -> Headers:
        """Register a member (an argon2 hash) and log in once (another). A 409 is a retried
        registration that had gone through."""
        body = {"email": email, "password": PASSWORD, "name": "Bench Buyer", "locale": "en"}
        expect(await self.setup("POST", "/api/v1/auth/register", json=body), 201, 409)
        return await self.login(email, PASSWORD)

    async def members(self, count: int, concurrency: int) -> list[Headers]:
        run = uuid.uuid4().hex[:6]
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int) -> Headers:
            async with gate:
                return await self.member(f"bench-{run}-{i}@example.com")

        return list(await asyncio.gather(*(one(i) for i in range(count))))

    async def product(
        self, admin: Headers, stock: int, price: int = 1999, sku: str | None = None
    ) -> str:
        """A published product with one SKU and `stock` on hand, on sale at the order service."""
        sku = sku or f"BENCH-{uuid.uuid4().hex[:10].upper()}"
        body = {
            "name": f"Bench item {sku}",
            "category": "bench",
            "skus": [{"sku": sku, "price": {"amount": price, "currency": "CNY"}}],
        }
        created = await self.setup("POST", "/api/v1/admin/products", json=body, headers=admin)
        product_id = expect(created, 201).json()["id"]
        path = f"/api/v1/admin/products/{product_id}/publish"
        expect(await self.setup("POST", path, headers=admin), 200)
        self.product_ids[sku] = product_id
        path = f"/api/v1/admin/inventory/{sku}"
        stocked = await self.setup("PUT", path, json={"on_hand": stock}, headers=admin)
        expect(stocked, 200, 201)
        await self.until_on_sale(sku, admin)
        return sku

    async def until_on_sale(self, sku: str, admin: Headers, timeout: float = 30) -> None:
        """The order service prices from its read model of the catalog: wait until it has the
        SKU (the cart takes it), then empty the admin's cart again."""
        path, one = f"/api/v1/cart/items/{sku}", {"quantity": 1}
        deadline = time.monotonic() + timeout
        while (await self.setup("PUT", path, json=one, headers=admin)).status_code != 200:
            if time.monotonic() > deadline:
                raise StorefrontError(f"{sku} never reached the order service's read model")
            await asyncio.sleep(0.1)
        await self.setup("DELETE", path, headers=admin)

    async def place(self, member: Headers, sku: str, key: str | None = None) -> Reply:
        """One order of one unit; `key` is the Idempotency-Key (a retry sends the same).
        Raises one of `TRANSPORT_ERRORS` when there is no answer."""
        body = {
            "items": [{"sku": sku, "quantity": 1}],
            "currency": "CNY",
            "payment_token": "tok_visa",
            "shipping_address": ADDRESS,
        }
        headers = {**member, "Idempotency-Key": key or str(uuid.uuid4())}
        return await self.request("POST", "/api/v1/orders", body=body, headers=headers)

    async def view(self, member: Headers, product_id: str, sku: str) -> Reply:
        """A storefront product page as a signed-in member opens it (catalog publishes the view
        as an analytics fact). Raises one of `TRANSPORT_ERRORS` when there is no answer."""
        path = f"/api/v1/products/{product_id}?sku={sku}"
        return await self.request("GET", path, headers=member)


@dataclass
class NoOpBaseline:
    requests: int
    requests_per_s: float
    p50_ms: float
    p99_ms: float
    errors: int
    gateway_cpu_ms: float = 0.0  # the gateway's CPU time per request, filled in by the caller


async def no_op_baseline(
    store: Storefront, seconds: float, concurrency: int, path: str = "/healthz"
) -> NoOpBaseline:
    """Closed loop: `concurrency` workers asking the gateway for `path` back to back."""
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            try:
                ok = (await store.request("GET", path)).status_code == 200
            except TRANSPORT_ERRORS:
                ok = False
            latencies.append(time.perf_counter() - started)
            errors += not ok

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    return NoOpBaseline(
        requests=len(latencies),
        requests_per_s=len(latencies) / elapsed,
        p50_ms=percentile(latencies, 50) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        errors=errors,
    )
