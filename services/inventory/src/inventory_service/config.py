"""The inventory service's settings: the INVENTORY_* environment variables."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings

# services/inventory/migrations: shipped beside the package in the image.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class InventorySettings(ServiceSettings):
    """Environment variables: INVENTORY_PORT, INVENTORY_DATABASE_URL, ... plus suite-wide ones."""

    model_config = SettingsConfigDict(env_prefix="INVENTORY_", extra="ignore")

    service_name: str = "inventory"
    port: int = 8003
    database_url: str = "sqlite+aiosqlite:///.data/inventory.db"
    # A new SKU's safety stock; `inventory.stock.low` fires when available falls under it.
    default_safety_stock: int = Field(default=5, ge=0)
    # A reservation not confirmed (or rejected, cancelled) within this time is released.
    reservation_ttl_seconds: float = Field(default=900.0, gt=0)
    expiry_check_seconds: float = Field(default=5.0, gt=0)
    expiry_batch_size: int = Field(default=100, ge=1)
