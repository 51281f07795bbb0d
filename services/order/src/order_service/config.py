"""The order service's settings: the ORDER_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from chassis.settings import DEV_PORTS, ServiceSettings

# services/order/migrations: shipped beside the package in the image.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class OrderSettings(ServiceSettings, env_prefix="ORDER_"):
    """Environment variables: ORDER_PORT, ORDER_DATABASE_URL, ... plus the suite-wide ones."""

    service_name: str = "order"
    port: int = DEV_PORTS["order"]
    # No answer from inventory or payment within this time: cancel and compensate.
    saga_timeout_seconds: float = 30.0
    # After-sales: a delivered order may be returned within this many days of delivery.
    return_window_days: int = Field(default=7, ge=0)
    timeout_check_seconds: float = 1.0
    # Points at checkout: 100 points = 1.00 CNY off, covering at most half of what is left.
    points_per_yuan: int = 100
    points_max_share_percent: int = 50
