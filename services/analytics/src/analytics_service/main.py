"""The analytics service: chassis + the KPI routes and the operators' `/ops` page + the
projection's consumers. It consumes order, inventory, payment, membership and catalog events
(catalog.events, and the product views on catalog.views) and publishes nothing."""

from __future__ import annotations

from fastapi import FastAPI

from analytics_service.api import pages, router
from analytics_service.config import MIGRATIONS_DIR, AnalyticsSettings
from analytics_service.handlers import CONSUMERS
from chassis.app import ServiceSpec, create_service_app


def create_app(settings: AnalyticsSettings | None = None, *, start_relay: bool = True) -> FastAPI:
    settings = settings or AnalyticsSettings()
    return create_service_app(
        ServiceSpec(
            settings=settings,
            title="Analytics service",
            routers=[router, pages],
            migrations_dir=MIGRATIONS_DIR,
            consumers=CONSUMERS,
            start_relay=start_relay,
        )
    )
