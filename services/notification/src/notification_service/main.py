"""The notification service: chassis + routes + four consumers + the dispatch job.
It consumes membership, order, payment and inventory events; it publishes notification.events."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.app import Job, ServiceSpec, create_service_app
from notification_service.api import router
from notification_service.channels import Channels, default_channels
from notification_service.config import MIGRATIONS_DIR, NotificationSettings
from notification_service.consumers import consumers
from notification_service.rendering import Renderer
from notification_service.service import Dispatcher, Notifier
from shared_events.topics import NOTIFICATION_EVENTS


def create_app(
    settings: NotificationSettings | None = None,
    *,
    start_relay: bool = True,
    channels: Channels | None = None,
) -> FastAPI:
    settings = settings or NotificationSettings()
    notifier = Notifier.from_settings(settings, Renderer())
    dispatcher = Dispatcher(channels or default_channels(settings), settings)
    return create_service_app(
        ServiceSpec(
            settings=settings,
            title="Notification service",
            routers=[router],
            migrations_dir=MIGRATIONS_DIR,
            publishes=[NOTIFICATION_EVENTS],
            consumers=consumers(notifier),
            jobs=[Job("notification-dispatch", settings.dispatch_interval_seconds, dispatcher.run)],
            start_relay=start_relay,
        )
    )
