"""The gateway app: every /api/v1 request is checked, limited, then forwarded."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.responses import HTMLResponse, JSONResponse
from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor

from chassis import health
from chassis.auth import JwksVerifier
from chassis.cache import create_redis
from chassis.errors import ProblemError, install_problem_handlers
from chassis.logging import configure_logging
from chassis.telemetry import configure_tracing
from gateway_service import availability, limits
from gateway_service.config import GatewaySettings
from gateway_service.flash_sale import FlashSaleLimits, capped_quantities
from gateway_service.flash_stock import FlashSaleStock
from gateway_service.openapi import merged_openapi
from gateway_service.proxy import Upstreams
from gateway_service.routing import upstream_for

ORDERS_PATH = "/api/v1/orders"


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
        redis = create_redis(settings.redis_url)
        app.state.upstreams = Upstreams(
            settings.upstreams(), client, settings.breaker_failures, settings.breaker_reset_seconds
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
        )
        app.state.verifier = JwksVerifier(
            settings.jwks_url,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            algorithms=settings.jwt_algorithms,
        )
        app.state.readiness_probes = {"redis": redis.ping}
        try:
            yield
        finally:
            await client.aclose()
            await redis.aclose()

    app = FastAPI(
        title="Commerce suite gateway", lifespan=lifespan, docs_url=None, openapi_url=None
    )
    install_problem_handlers(app)
    app.include_router(health.router)
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

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    return app


async def handle(request: Request, settings: GatewaySettings) -> Response:
    state: Any = request.app.state
    request_id = request.headers.get("x-request-id") or uuid.uuid4().hex
    client = request.client.host if request.client else "unknown"
    prefix = f"{settings.redis_key_prefix}gateway:rate"
    await limits.hit(state.redis, f"{prefix}:client:{client}", settings.rate_per_client_per_minute)
    name = upstream_for(request.url.path)
    if name is None:
        raise ProblemError(404, f"no route for {request.url.path}", code="not-found")
    size = request.query_params.get("size")
    if size is not None and size.isdigit() and int(size) > settings.max_page_size:
        raise ProblemError(
            422, f"size must be at most {settings.max_page_size}", code="page-size-too-large"
        )
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > settings.max_body_bytes:
        raise _too_large(settings)
    body = await request.body()
    if len(body) > settings.max_body_bytes:
        raise _too_large(settings)
    authorization = request.headers.get("authorization", "")
    member: str | None = None
    if authorization.lower().startswith("bearer "):
        # Refused here already; the service verifies the same token again (zero trust).
        principal = await state.verifier.verify(authorization[7:].strip())
        member = principal.subject
        await limits.hit(
            state.redis, f"{prefix}:member:{member}", settings.rate_per_member_per_minute
        )
    if member is not None and request.method == "POST" and request.url.path == ORDERS_PATH:
        response = await forward_order(request, body, request_id, member, settings)
    else:
        upstreams: Upstreams = state.upstreams
        response = await upstreams.forward(name, request, body, request_id)
        if response.status_code == 200 and availability.is_product_read(
            request.method, request.url.path
        ):
            response = await add_availability(response, upstreams)
    response.headers["x-request-id"] = request_id
    return response


async def add_availability(response: Response, upstreams: Upstreams) -> Response:
    filled = await availability.with_availability(
        bytes(response.body), upstreams.client, upstreams.urls["inventory"]
    )
    if filled is None:
        return response
    headers = {k: v for k, v in response.headers.items() if k.lower() != "content-length"}
    return Response(filled, status_code=200, headers=headers)


async def forward_order(
    request: Request, body: bytes, request_id: str, member: str, settings: GatewaySettings
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
    # False for an order without flash-sale SKUs, and for a replay (its first try took them).
    claimed = await flash_sale.claim(member, wanted, key)
    counted = False
    if claimed:
        try:
            counted = await stock.take(wanted)
        except BaseException:  # sold out (or Redis gone): the allowance was not used
            await flash_sale.release(member, wanted, key)
            raise
    response: Response = await state.upstreams.forward("order", request, body, request_id)
    if claimed and 400 <= response.status_code < 500:
        if counted:
            await stock.give_back(wanted)
        await flash_sale.release(member, wanted, key)
    return response


def _too_large(settings: GatewaySettings) -> ProblemError:
    return ProblemError(
        413, f"the body may be at most {settings.max_body_bytes} bytes", code="body-too-large"
    )
