"""The gateway's runtime type and its route dependency, named once (docs/architecture.md, "The
layers"). The gateway has no database and no broker: it runs on the chassis' `BaseRuntime`
(settings, Redis, the token verifier) with its own `GatewayState`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated, Any

from fastapi import Depends, Request

from chassis.deps import get_runtime, runtime_of
from chassis.runtime import BaseRuntime
from gateway_service.adapters.upstreams import Upstreams
from gateway_service.config import GatewaySettings
from gateway_service.service.availability import AvailabilityReads
from gateway_service.service.flash_sale import FlashSaleLimits
from gateway_service.service.flash_stock import FlashSaleStock
from gateway_service.service.limits import RateCounter
from gateway_service.service.single_flight import KeptRead

DOCUMENT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class GatewayState:
    """What the gateway holds besides Redis and the verifier, built once at start-up
    (`main.build_state`) and closed at shutdown (`main.close_state`)."""

    upstreams: Upstreams  # the services' clients, breakers and in-flight counts
    flash_sale: FlashSaleLimits  # each member's flash-sale allowance
    flash_stock: FlashSaleStock  # each flash-sale SKU's units, counted at the edge
    availability: AvailabilityReads  # inventory's figures for product pages, briefly kept
    rates: RateCounter  # the rate limits' counters in Redis
    # The merged /openapi.json and /asyncapi.json, read from the services once per window.
    openapi: KeptRead[dict[str, Any]] = field(default_factory=lambda: KeptRead(DOCUMENT_SECONDS))
    asyncapi: KeptRead[dict[str, Any]] = field(default_factory=lambda: KeptRead(DOCUMENT_SECONDS))


GatewayRuntime = BaseRuntime[GatewaySettings, GatewayState]
RuntimeDep = Annotated[GatewayRuntime, Depends(get_runtime)]


def runtime(request: Request) -> GatewayRuntime:
    """The runtime without a dependency, for the route every storefront call takes: a
    dependency would add an await per request."""
    running: GatewayRuntime = runtime_of(request)
    return running
