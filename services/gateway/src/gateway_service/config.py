from __future__ import annotations

from pathlib import Path
from typing import ClassVar

from pydantic import Field

from chassis.forwarding import TrustedProxies
from chassis.settings import DEV_PORTS, ServiceSettings, dev_url


class GatewaySettings(ServiceSettings, env_prefix="GATEWAY_"):
    """Environment variables: GATEWAY_PORT, GATEWAY_CATALOG_URL, ... plus the suite-wide ones."""

    owns_database: ClassVar[bool] = False  # Redis only

    service_name: str = "gateway"
    port: int = DEV_PORTS["gateway"]
    catalog_url: str = dev_url("catalog")
    order_url: str = dev_url("order")
    inventory_url: str = dev_url("inventory")
    payment_url: str = dev_url("payment")
    membership_url: str = dev_url("membership")
    notification_url: str = dev_url("notification")
    analytics_url: str = dev_url("analytics")
    upstream_timeout_seconds: float = Field(default=5.0, gt=0)
    # A breaker opens after this many consecutive failures and lets one call try again after
    # the reset time (one at a time); while open, calls fail at once with 503. Short, so that
    # a restarted service is reached again within it: one trial call per window is all a
    # service that is down still gets.
    breaker_failures: int = Field(default=5, ge=1)
    breaker_reset_seconds: float = Field(default=2.0, gt=0)
    # Requests per minute, counted in Redis so every replica shares them.
    rate_per_client_per_minute: int = Field(default=600, ge=1)
    rate_per_member_per_minute: int = Field(default=300, ge=1)
    # While Redis cannot be reached, requests pass uncounted (true) or get a 503 (false: then
    # /readyz fails without Redis too). A flash-sale order needs Redis either way (its
    # allowance is claimed there): 503.
    rate_limits_fail_open: bool = True
    max_body_bytes: int = Field(default=1_048_576, ge=1)
    # Calls in flight to one service from this replica; beyond it a call waits its turn up to
    # queue_seconds, at most max_queued_per_service of them; past either, 503 + Retry-After.
    max_in_flight_per_service: int = Field(default=64, ge=1)
    max_queued_per_service: int = Field(default=256, ge=0)
    queue_seconds: float = Field(default=2.0, ge=0)
    # Peers whose X-Forwarded-For is believed (a load balancer in front of the gateway),
    # addresses or networks; anyone else is the client, whatever the header says.
    trusted_proxies: TrustedProxies = Field(default_factory=list)
    # Prometheus metrics on their own listener, never on the storefront port; 0 turns it off.
    metrics_host: str = "127.0.0.1"
    metrics_port: int = Field(default=9100, ge=0, le=65535)
    max_page_size: int = Field(default=100, ge=1)
    cors_origins: list[str] = Field(default_factory=list)
    # Flash-sale SKUs and how many units one member may buy of each during the sale window,
    # e.g. GATEWAY_FLASH_SALE_LIMITS='{"TEA-FLASH-1": 2}'.
    flash_sale_limits: dict[str, int] = Field(default_factory=dict)
    flash_sale_window_seconds: int = Field(default=86_400, ge=1)
    # How long the edge's count of a flash-sale SKU's units lives before it is read again from
    # inventory (units that came back are offered again after at most this long).
    flash_sale_stock_refresh_seconds: float = Field(default=3.0, gt=0)
    # How long a process shows the availability it read for a product page before reading it
    # again (service/availability.py); 0 reads it for every page.
    availability_cache_seconds: float = Field(default=1.0, ge=0)
    # How long after a process found a SKU sold out its orders take the rush's short path (no
    # token verified; the units left read with the rate limit), renewed by each refusal there.
    flash_sale_sold_out_memory_seconds: float = Field(default=0.5, ge=0)
    # The event catalog's pages, served at /events/: the repository's docs/events, which
    # `make docs` writes and the gateway's image copies to the same place (/app/docs/events).
    event_catalog_dir: Path = Path(__file__).resolve().parents[4] / "docs" / "events"

    def upstreams(self) -> dict[str, str]:
        return {
            "catalog": self.catalog_url,
            "order": self.order_url,
            "inventory": self.inventory_url,
            "payment": self.payment_url,
            "membership": self.membership_url,
            "notification": self.notification_url,
            "analytics": self.analytics_url,
        }

    @property
    def serves_without_redis(self) -> bool:
        return self.rate_limits_fail_open
