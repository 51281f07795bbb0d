"""The inventory service's settings: the INVENTORY_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from chassis.settings import DEV_PORTS, ServiceSettings

# services/inventory/migrations: shipped beside the package in the image.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class InventorySettings(ServiceSettings, env_prefix="INVENTORY_"):
    """Environment variables: INVENTORY_PORT, INVENTORY_DATABASE_URL, ... plus suite-wide ones."""

    service_name: str = "inventory"
    port: int = DEV_PORTS["inventory"]
    # A new SKU's safety stock; `inventory.stock.low` fires when available falls under it.
    default_safety_stock: int = Field(default=5, ge=0)
    # A reservation not confirmed (or rejected, cancelled) within this time is released.
    reservation_ttl_seconds: float = Field(default=900.0, gt=0)
    expiry_check_seconds: float = Field(default=5.0, gt=0)
    expiry_batch_size: int = Field(default=100, ge=1)
    # Lots: expiry dates are days in the shop's time zone (SHOP_TIME_ZONE, suite-wide); a lot
    # is sellable through its expiry date. The lot job withdraws expired lots and warns (once
    # per lot, `inventory.lot.expiring`) when a lot is this many days or fewer from its date.
    expiring_warning_days: int = Field(default=3, ge=0)
    lot_check_seconds: float = Field(default=60.0, gt=0)
    # The deprecation window of `inventory.stock.committed` v1: while on, every commit is
    # published as v2 and as v1 (README, "Versions").
    publish_committed_v1: bool = True
