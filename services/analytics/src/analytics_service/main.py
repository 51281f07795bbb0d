"""The analytics service: chassis + the KPI routes and the operators' `/ops` page + the
projection's consumers. It consumes order, inventory, payment, membership and catalog events
(catalog.events, and the product views on catalog.views) and publishes nothing."""

from __future__ import annotations

from analytics_service.api import pages, router
from analytics_service.config import AnalyticsSettings
from chassis.service import Service

ANALYTICS = Service(AnalyticsSettings, routers=[router, pages])
create_app = ANALYTICS.create_app
