from __future__ import annotations

from pathlib import Path

from pydantic import Field

from catalog_service.domain.food import DEFAULT_FOOD_CATEGORIES
from chassis.settings import DEV_PORTS, ServiceSettings

# services/catalog/migrations: shipped beside the package in the image (see Dockerfile).
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"
# The largest `size` of a product list the API documents; CATALOG_MAX_PAGE_SIZE may lower it.
PAGE_SIZE_LIMIT = 100


class CatalogSettings(ServiceSettings, env_prefix="CATALOG_"):
    """Environment variables: CATALOG_PORT, CATALOG_DATABASE_URL, ... plus the suite-wide ones."""

    service_name: str = "catalog"
    port: int = DEV_PORTS["catalog"]
    cache_ttl_seconds: int = 60
    # Products and pages are also kept in each process's memory this long (0: Redis only): a
    # hot product page costs no Redis round trip. This process's writes clear it at once;
    # another replica's show within this time.
    cache_local_seconds: float = Field(default=1.0, ge=0)
    max_page_size: int = Field(default=PAGE_SIZE_LIMIT, ge=1, le=PAGE_SIZE_LIMIT)
    # Categories whose products must carry food attributes (and the only ones that may), as
    # JSON: CATALOG_FOOD_CATEGORIES='["tea", "fruit"]'.
    food_categories: list[str] = Field(default_factory=lambda: list(DEFAULT_FOOD_CATEGORIES))
