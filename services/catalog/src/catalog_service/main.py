"""The catalog service: chassis + routes. It consumes nothing; it publishes catalog.events
(through the outbox) and its product views on catalog.views (through the beacon)."""

from __future__ import annotations

from catalog_service.config import CatalogSettings
from catalog_service.deps import build_state, stop_state
from chassis.service import Service
from shared_events.topics import CATALOG_EVENTS, CATALOG_VIEWS

CATALOG = Service(
    CatalogSettings,
    publishes=[CATALOG_EVENTS, CATALOG_VIEWS],
    state=build_state,
    on_stop=[stop_state],
)
create_app = CATALOG.create_app
