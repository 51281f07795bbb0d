"""The gateway: one storefront API in front of the services, on the chassis app factory."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import replace

import aiohttp
import httpx
from fastapi import FastAPI
from fastapi.middleware import Middleware
from fastapi.middleware.cors import CORSMiddleware

from chassis.app import create_service_app
from chassis.service import Service
from gateway_service.adapters.upstreams import Upstreams
from gateway_service.api import DirectApiRoute
from gateway_service.config import GatewaySettings
from gateway_service.deps import GatewayRuntime, GatewayState
from gateway_service.service import availability
from gateway_service.service.flash_sale import FlashSaleLimits
from gateway_service.service.flash_stock import FlashSaleStock
from gateway_service.service.limits import RateCounter


async def build_state(runtime: GatewayRuntime) -> GatewayState:
    """The upstream clients (aiohttp for forwarding and availability reads, httpx for the
    OpenAPI and AsyncAPI merges) and the flash-sale counters in the runtime's Redis."""
    settings = runtime.settings
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
    urls = settings.upstreams()
    inventory_url = urls["inventory"]

    def read_inventory(skus: list[str]) -> Awaitable[dict[str, int]]:
        return availability.fetch_available(session, inventory_url, skus)

    return GatewayState(
        upstreams=Upstreams(
            urls,
            client,
            session,
            settings.breaker_failures,
            settings.breaker_reset_seconds,
            settings.max_in_flight_per_service,
            settings.max_queued_per_service,
            settings.queue_seconds,
        ),
        flash_sale=FlashSaleLimits(
            runtime.redis,
            settings.redis_key_prefix,
            settings.flash_sale_limits,
            settings.flash_sale_window_seconds,
        ),
        flash_stock=FlashSaleStock(
            runtime.redis,
            settings.redis_key_prefix,
            settings.flash_sale_stock_refresh_seconds,
            read_inventory,
            sold_out_memory_seconds=settings.flash_sale_sold_out_memory_seconds,
        ),
        availability=availability.AvailabilityReads(
            read_inventory, settings.availability_cache_seconds
        ),
        rates=RateCounter(runtime.redis, fail_open=settings.rate_limits_fail_open),
    )


async def close_state(runtime: GatewayRuntime) -> None:
    upstreams = runtime.state.upstreams
    await upstreams.session.close()
    await upstreams.client.aclose()


GATEWAY = Service(
    GatewaySettings,
    title="Commerce suite gateway",
    state=build_state,
    on_stop=[close_state],
)


def create_app(settings: GatewaySettings | None = None) -> FastAPI:
    settings = settings or GatewaySettings()
    spec = replace(
        GATEWAY.spec(settings),
        # The merged document of the services, from api.py, not the gateway's own routes.
        openapi_url=None,
        # Likewise the merged AsyncAPI document of the services (api.py).
        asyncapi_url=None,
        # Clients reach this port: /metrics is served to the private network only.
        metrics_listener=(settings.metrics_host, settings.metrics_port),
    )
    app = create_service_app(spec)
    # Innermost of the middleware: inside the request id, metrics and trace context.
    app.user_middleware.append(Middleware(DirectApiRoute, handlers=app.exception_handlers))
    if settings.cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["*"],
            allow_headers=["*"],
            expose_headers=["Retry-After", "Idempotent-Replayed", "X-Request-Id"],
        )
    return app
