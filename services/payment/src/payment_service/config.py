from __future__ import annotations

from pathlib import Path

from pydantic import Field

from chassis.settings import DEV_PORTS, ServiceSettings

# services/payment/migrations: shipped beside the package in the image.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class PaymentSettings(ServiceSettings, env_prefix="PAYMENT_"):
    """Environment variables: PAYMENT_PORT, PAYMENT_DATABASE_URL, PAYMENT_RISK_MAX_AMOUNT_CNY,
    ... plus the suite-wide ones."""

    service_name: str = "payment"
    port: int = DEV_PORTS["payment"]

    # Transient provider errors are retried inside the use case, then the payment fails.
    provider_max_attempts: int = Field(default=4, ge=1)
    provider_backoff_seconds: float = Field(default=0.05, ge=0)
    # Each provider call's deadline: a hung provider would otherwise hold the event's
    # transaction and row locks for ever. A call past it counts as the provider unavailable.
    # With the retries, an authorisation is decided within about 20 s, inside the saga's 30.
    provider_timeout_seconds: float = Field(default=5.0, gt=0)

    # Risk rules. The order amount, converted to CNY, must not exceed the maximum
    # (minor units: 5_000_000 is 50,000.00 CNY).
    risk_max_amount_cny: int = Field(default=5_000_000, ge=0)
    # At most this many payments per member within the window.
    risk_velocity_max: int = Field(default=10, ge=1)
    risk_velocity_window_seconds: int = Field(default=3600, ge=1)
