"""The notification service: chassis + routes + four consumers + the dispatch job.
It consumes membership, order, payment and inventory events; it publishes notification.events."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI

from chassis.app import Job, ServiceSpec, create_service_app
from chassis.runtime import Runtime
from notification_service.api import router
from notification_service.channels import Channels, close_channels, default_channels
from notification_service.config import MIGRATIONS_DIR, NotificationSettings
from notification_service.consumers import consumers
from notification_service.rendering import Renderer
from notification_service.service import Dispatcher, Notifier, cache
from shared_events.topics import NOTIFICATION_EVENTS


def create_app(
    settings: NotificationSettings | None = None,
    *,
    start_relay: bool = True,
    channels: Channels | None = None,
) -> FastAPI:
    settings = settings or NotificationSettings()
    notifier = Notifier.from_settings(settings, Renderer())
    adapters = channels or default_channels(settings)
    dispatcher = Dispatcher(adapters, settings)

    async def install_cache(runtime: Runtime) -> None:
        # The routes that change preferences and subscriptions find the consumers' cache here.
        cache.install(runtime, notifier.cache)

    app = create_service_app(
        ServiceSpec(
            settings=settings,
            title="Notification service",
            routers=[router],
            migrations_dir=MIGRATIONS_DIR,
            publishes=[NOTIFICATION_EVENTS],
            consumers=consumers(notifier),
            on_start=[install_cache],
            jobs=[Job("notification-dispatch", settings.dispatch_interval_seconds, dispatcher.run)],
            start_relay=start_relay,
        )
    )
    _close_on_shutdown(app, adapters, notifier)
    return app


def _close_on_shutdown(app: FastAPI, adapters: Mapping[Any, Any], notifier: Notifier) -> None:
    """Close the channels' kept-open connections (SMTP) once the chassis has stopped the
    dispatch job, i.e. after its lifespan ended; let the cache's publishes finish."""
    lifespan = app.router.lifespan_context

    @asynccontextmanager
    async def closing(app: FastAPI) -> AsyncIterator[Any]:
        try:
            async with lifespan(app) as state:
                yield state
        finally:
            await close_channels(adapters)
            await notifier.cache.close()

    app.router.lifespan_context = closing
