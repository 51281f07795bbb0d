"""The inventory service: chassis + routes + consumers + the reservation expiry job and the
lot job (expired lots, expiring-soon warnings, interrupted withdrawals and recalls).
It consumes catalog.events and order.events; it publishes inventory.events."""

from __future__ import annotations

from chassis.app import Job
from chassis.service import Service
from inventory_service.config import InventorySettings
from inventory_service.service.lot_jobs import check_lots
from inventory_service.service.reservations import release_expired
from shared_events.topics import INVENTORY_EVENTS

INVENTORY = Service(
    InventorySettings,
    publishes=[INVENTORY_EVENTS],
    jobs=lambda settings: [
        Job("inventory-expiry", settings.expiry_check_seconds, release_expired),
        Job("inventory-lots", settings.lot_check_seconds, check_lots),
    ],
)
create_app = INVENTORY.create_app
