"""The notification runtime, named once: its settings and its own state, and the route
dependency that hands it to the routes (docs/architecture.md, "The layers")."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends

from chassis.deps import get_runtime
from chassis.runtime import Runtime
from notification_service.adapters.channel import Channels, close_channels
from notification_service.config import NotificationSettings
from notification_service.service.cache import NotificationCache
from notification_service.service.rendering import Renderer


@dataclass(frozen=True)
class NotificationState:
    """What this service keeps besides the chassis' parts, built once at start
    (`main.build_state`): the cache of preferences and subscriptions (the consumers read it,
    the routes that change them tell it), the templates, and the channel adapters the
    dispatch job sends through."""

    cache: NotificationCache
    renderer: Renderer
    channels: Channels

    async def close(self) -> None:
        """On shutdown, once the dispatch job has stopped: close the channels' connections and
        let the cache's publishes finish."""
        await close_channels(self.channels)
        await self.cache.close()


NotificationRuntime = Runtime[NotificationSettings, NotificationState]
RuntimeDep = Annotated[NotificationRuntime, Depends(get_runtime)]
