"""The order service: carts, orders and the order-to-cash saga."""

from __future__ import annotations

from chassis.app import Job
from chassis.idempotency_db import expiry_job
from chassis.service import Service
from order_service.config import OrderSettings
from order_service.service.orders import cancel_overdue
from shared_events.topics import ORDER_EVENTS

ORDER = Service(
    OrderSettings,
    publishes=[ORDER_EVENTS],
    jobs=lambda settings: [
        Job("saga-timeouts", settings.timeout_check_seconds, cancel_overdue),
        expiry_job(),  # Idempotency-Key records older than 24 h
    ],
)
create_app = ORDER.create_app
