"""The catalog service's runtime type and route dependency, named once.

`CatalogState` holds what only the catalog has: the read cache of the storefront's views
(CATALOG_CACHE_TTL_SECONDS), built once by `ServiceSpec(state=...)` in `main.create_app`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from catalog_service.config import CatalogSettings
from chassis.cache import ReadCache
from chassis.deps import get_runtime
from chassis.runtime import Runtime


@dataclass(frozen=True)
class CatalogState:
    cache: ReadCache


CatalogRuntime = Runtime[CatalogSettings, CatalogState]
RuntimeDep = Annotated[CatalogRuntime, Depends(get_runtime)]


async def build_state(runtime: CatalogRuntime) -> CatalogState:
    settings = runtime.settings
    return CatalogState(
        cache=ReadCache(
            runtime.redis,
            f"{settings.redis_key_prefix}catalog",
            ttl_seconds=settings.cache_ttl_seconds,
        )
    )
