"""The catalog service's runtime type and route dependency, named once.

`CatalogState` holds what only the catalog has: the read cache of the storefront's views
(CATALOG_CACHE_TTL_SECONDS) and the beacon that publishes those views as analytics facts
(chassis.beacon: from memory, at most once), built once by `build_state` (the `state` of
`main.CATALOG`); the beacon is flushed by `stop_state` at shutdown.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from catalog_service.config import CatalogSettings
from chassis.beacon import Beacon, beacon_for
from chassis.cache import ReadCache
from chassis.deps import get_runtime
from chassis.runtime import Runtime


@dataclass(frozen=True)
class CatalogState:
    cache: ReadCache
    beacon: Beacon


CatalogRuntime = Runtime[CatalogSettings, CatalogState]
RuntimeDep = Annotated[CatalogRuntime, Depends(get_runtime)]


async def build_state(runtime: CatalogRuntime) -> CatalogState:
    settings = runtime.settings
    beacon = beacon_for(settings, runtime.producer)
    beacon.start()
    return CatalogState(
        cache=ReadCache(
            runtime.redis,
            f"{settings.redis_key_prefix}catalog",
            ttl_seconds=settings.cache_ttl_seconds,
            local_seconds=settings.cache_local_seconds,
        ),
        beacon=beacon,
    )


async def stop_state(runtime: CatalogRuntime) -> None:
    """At shutdown, while the producer is still open: the views still queued are sent."""
    await runtime.state.beacon.stop()
