"""The gateway app: every /api/v1 request is checked, limited, then forwarded."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import aiohttp
import httpx
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse

from chassis import health
from chassis.app import instrument_http
from chassis.auth import JwksVerifier, Unauthorized
from chassis.cache import create_redis
from chassis.errors import ProblemError, install_problem_handlers
from chassis.forwarding import client_address, is_trusted
from chassis.logging import configure_logging
from chassis.telemetry import configure_tracing, fastapi_telemetry
from gateway_service import availability, limits
from gateway_service.config import GatewaySettings
from gateway_service.flash_sale import FlashSaleLimits, capped_quantities
from gateway_service.flash_stock import FlashSaleStock, sold_out
from gateway_service.metrics import serve_metrics
from gateway_service.openapi import merged_openapi
from gateway_service.paths import Path, page_size, parse_path
from gateway_service.proxy import Upstreams
from gateway_service.routing import upstream_for

ORDERS_PATH = "/api/v1/orders"
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    configure_logging(settings.service_name, settings.log_level, settings.log_json)
    configure_tracing(settings.service_name, settings.otel_exporter_otlp_endpoint)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        client = httpx.AsyncClient(
            timeout=settings.upstream_timeout_seconds,
            limits=httpx.Limits(max_connections=200, max_keepalive_connections=50),
        )
        session = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=200, limit_per_host=0),
            timeout=aiohttp.ClientTimeout(total=settings.upstream_timeout_seconds),
            # The client's own User-Agent is forwarded; none is made up when it sent none.
            skip_auto_headers={"User-Agent"},
        )
        redis = create_redis(settings.redis_url)
        app.state.upstreams = Upstreams(
            settings.upstreams(),
            client,
            session,
            settings.breaker_failures,
            settings.breaker_reset_seconds,
            settings.max_in_flight_per_service,
        )
        app.state.redis = redis
        app.state.flash_sale = FlashSaleLimits(
            redis,
            settings.redis_key_prefix,
            settings.flash_sale_limits,
            settings.flash_sale_window_seconds,
        )
        inventory_url = settings.upstreams()["inventory"]
        app.state.flash_stock = FlashSaleStock(
            redis,
            settings.redis_key_prefix,
            settings.flash_sale_stock_refresh_seconds,
            lambda skus: availability.fetch_available(client, inventory_url, skus),
            sold_out_memory_seconds=settings.flash_sale_sold_out_memory_seconds,
        )
        app.state.verifier = JwksVerifier(
            settings.jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=settings.jwt_algorithms,
        )
        app.state.readiness_probes = {"redis": redis.ping}
        metrics_server = serve_metrics(settings.metrics_host, settings.metrics_port)
        try:
            yield
        finally:
            if metrics_server is not None:
                metrics_server.shutdown()
            await session.close()
            await client.aclose()
            await redis.aclose()

    app = FastAPI(
        title="Commerce suite gateway",
        lifespan=lifespan,
        docs_url=None,
        openapi_url=None,
        telemetry=fastapi_telemetry(),
    )
    install_problem_handlers(app)
    app.include_router(health.probes)
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["Retry-After", "Idempotent-Replayed", "X-Request-Id"],
        )

    @app.get("/openapi.json", include_in_schema=False)
    async def openapi(request: Request) -> JSONResponse:
        upstreams: Upstreams = request.app.state.upstreams
        return JSONResponse(await merged_openapi(upstreams.client, upstreams.urls))

    @app.get("/docs", include_in_schema=False)
    async def docs() -> HTMLResponse:
        return get_swagger_ui_html(openapi_url="/openapi.json", title="Storefront API")

    @app.api_route(
        "/api/v1/{path:path}",
        methods=["GET", "POST", "PUT", "PATCH", "DELETE"],
        include_in_schema=False,
    )
    async def route(request: Request) -> Response:
        return await handle(request, settings)

    instrument_http(app, settings.otel_exporter_otlp_endpoint)
    return app


async def handle(request: Request, settings: GatewaySettings) -> Response:
    state: Any = request.app.state
    request_id = request_id_of(request)
    peer = request.client.host if request.client else "unknown"
    client = client_address(peer, request.headers.get("x-forwarded-for"), settings.trusted_proxies)
    member, refused = await verified_member(request, state.verifier)
    # Both limits in one Redis round trip. The member is known only once the token is
    # verified, so verification comes first (a cached token costs a lookup, see chassis.auth).
    prefix = f"{settings.redis_key_prefix}gateway:rate"
    checks = [limits.Limit(f"{prefix}:client:{client}", settings.rate_per_client_per_minute)]
    if member is not None:
        per_member = settings.rate_per_member_per_minute
        checks.append(limits.Limit(f"{prefix}:member:{member}", per_member))
    now = time.time()
    counts = await limits.count(state.redis, checks, now)
    # The client's limit first: a client over it gets 429 whatever token it sends.
    if problem := limits.over(checks[0], counts[0], now):
        raise problem
    if refused is not None:
        raise refused
    if member is not None and (problem := limits.over(checks[1], counts[1], now)):
        raise problem
    path = parse_path(request.scope.get("raw_path") or request.url.path.encode())
    name = upstream_for(path.decoded)
    if name is None:
        raise ProblemError(404, f"no route for {path.forwarded}", code="not-found")
    size = page_size(request.query_params.get("size"))
    if size is not None and size > settings.max_page_size:
        raise ProblemError(
            422, f"size must be at most {settings.max_page_size}", code="page-size-too-large"
        )
    body = await read_body(request, settings.max_body_bytes)
    upstreams: Upstreams = state.upstreams
    # The services believe the gateway's X-Forwarded-For; it names the client found above,
    # after the proxies trusted here, and never what an untrusted client wrote.
    forwarded = request.headers.get("x-forwarded-for")
    forwarded_for = (
        f"{forwarded}, {peer}" if forwarded and is_trusted(peer, settings.trusted_proxies) else peer
    )
    if member is not None and request.method == "POST" and path.decoded == ORDERS_PATH:
        response = await forward_order(
            request, path, body, request_id, forwarded_for, member, settings
        )
    else:
        response = await upstreams.forward(name, request, path, body, request_id, forwarded_for)
        if response.status_code == 200 and availability.is_product_read(
            request.method, path.decoded
        ):
            response = await add_availability(response, upstreams)
    response.headers["x-request-id"] = request_id
    return response


async def verified_member(
    request: Request, verifier: JwksVerifier
) -> tuple[str | None, Unauthorized | None]:
    """The member a bearer token names, or why the token is refused (raised only after the
    client has been counted, so bad tokens cannot dodge the per-client limit). The service
    verifies the same token again (zero trust)."""
    authorization = request.headers.get("authorization", "")
    if not authorization.lower().startswith("bearer "):
        return None, None
    try:
        principal = await verifier.verify(authorization[7:].strip())
    except Unauthorized as refused:
        return None, refused
    return principal.subject, None


def request_id_of(request: Request) -> str:
    """The caller's X-Request-Id when it is a plain token (it goes into logs and headers),
    else a new one."""
    given = request.headers.get("x-request-id", "")
    return given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


async def read_body(request: Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it passes `limit`: a declared Content-Length is
    checked before reading, and a chunked body while it streams (never held whole first)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)
        chunks.append(chunk)
    return b"".join(chunks)


async def add_availability(response: Response, upstreams: Upstreams) -> Response:
    filled = await availability.with_availability(
        bytes(response.body), upstreams.client, upstreams.urls["inventory"]
    )
    if filled is None:
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(filled, status_code=200, headers=headers)


async def forward_order(
    request: Request,
    path: Path,
    body: bytes,
    request_id: str,
    forwarded_for: str,
    member: str,
    settings: GatewaySettings,
) -> Response:
    """`POST /orders` under the flash-sale rules: take the member's allowance and the units,
    forward, and give both back if the order service refuses the order (4xx). A timeout or a
    5xx leaves the order unknown (it may exist): both stay taken, so a retry under the same
    Idempotency-Key passes to the service, which replays its answer; units also come back
    with the next count from inventory."""
    state: Any = request.app.state
    flash_sale: FlashSaleLimits = state.flash_sale
    stock: FlashSaleStock = state.flash_stock
    wanted = capped_quantities(body, settings.flash_sale_limits)
    key = request.headers.get("idempotency-key")
    # The rush after a sell-out is answered from memory: one round trip (is it a retry of an
    # order that got through?) instead of four, none without an Idempotency-Key.
    gone = stock.sold_out(wanted)
    if gone is not None and not await flash_sale.is_replay(member, key):
        raise sold_out(gone)
    # False for an order without flash-sale SKUs, and for a replay (its first try took them).
    claimed = await flash_sale.claim(member, wanted, key)
    counted = False
    if claimed:
        try:
            counted = await stock.take(wanted)
        except BaseException:  # sold out (or Redis gone): the allowance was not used
            await flash_sale.release(member, wanted, key)
            raise
    response: Response = await state.upstreams.forward(
        "order", request, path, body, request_id, forwarded_for
    )
    if claimed and 400 <= response.status_code < 500:
        if counted:
            await stock.give_back(wanted)
        await flash_sale.release(member, wanted, key)
    return response


def _too_large(limit: int) -> ProblemError:
    return ProblemError(413, f"the body may be at most {limit} bytes", code="body-too-large")
