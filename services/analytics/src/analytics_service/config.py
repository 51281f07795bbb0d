"""The analytics service's settings: the ANALYTICS_* environment variables."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo

from pydantic import Field, field_validator

from chassis.settings import DEV_PORTS, OffPathSettings

# services/analytics/migrations: shipped beside the package in the image.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class AnalyticsSettings(OffPathSettings, env_prefix="ANALYTICS_"):
    """Environment variables: ANALYTICS_PORT, ANALYTICS_DATABASE_URL, ...
    plus the suite-wide ones."""

    service_name: str = "analytics"
    port: int = DEV_PORTS["analytics"]
    # Millionths of a CNY per unit of another currency: the fallback for amounts no event gives
    # in CNY (order totals, payment events older than `amount_cny`; docs/kpis.md, "Money"), so
    # they follow payment's seeded rates.
    fx_rates: dict[str, int] = Field(default_factory=lambda: {"USD": 7_100_000, "EUR": 7_700_000})
    # Inventory's default safety stock, for SKUs whose own was never published (stock.low).
    default_safety_stock: int = Field(default=5, ge=0)
    slow_moving_days: int = Field(default=30, ge=1, le=3650)
    # The longest period one request may ask for: the figures are computed from the period's
    # facts at request time.
    max_period_days: int = Field(default=366, ge=1)
    max_hour_period_days: int = Field(default=31, ge=1)

    @property
    def zone(self) -> ZoneInfo:
        """Days and hours of every figure are the shop's (SHOP_TIME_ZONE; docs/kpis.md)."""
        return self.shop_zone

    @field_validator("fx_rates")
    @classmethod
    def _positive_rates(cls, rates: dict[str, int]) -> dict[str, int]:
        bad = sorted(code for code, micros in rates.items() if micros <= 0 or len(code) != 3)
        if bad:
            raise ValueError(f"rates must be positive millionths per ISO currency: {bad}")
        return rates
