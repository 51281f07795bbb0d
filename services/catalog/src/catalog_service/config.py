from __future__ import annotations

from pathlib import Path

from pydantic_settings import SettingsConfigDict

from chassis.settings import ServiceSettings

# services/catalog/migrations: shipped beside the package in the image (see Dockerfile).
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"


class CatalogSettings(ServiceSettings):
    """Environment variables: CATALOG_PORT, CATALOG_DATABASE_URL, ... plus the suite-wide ones."""

    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore")

    service_name: str = "catalog"
    port: int = 8001
    database_url: str = "sqlite+aiosqlite:///.data/catalog.db"
    redis_key_prefix: str = ""
    cache_ttl_seconds: int = 60
    max_page_size: int = 100
