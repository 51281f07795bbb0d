"""The order service: carts, orders and the order-to-cash saga."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.app import Job, ServiceSpec, create_service_app
from chassis.idempotency_db import expiry_job
from order_service.api import router
from order_service.config import MIGRATIONS_DIR, OrderSettings
from order_service.handlers import CONSUMERS
from order_service.service.orders import cancel_overdue
from shared_events.topics import ORDER_EVENTS


def create_app(settings: OrderSettings | None = None, *, start_relay: bool = True) -> FastAPI:
    settings = settings or OrderSettings()
    return create_service_app(
        ServiceSpec(
            settings=settings,
            title="Order service",
            routers=[router],
            migrations_dir=MIGRATIONS_DIR,
            publishes=[ORDER_EVENTS],
            consumers=CONSUMERS,
            jobs=[
                Job("saga-timeouts", settings.timeout_check_seconds, cancel_overdue),
                expiry_job(),  # Idempotency-Key records older than 24 h
            ],
            start_relay=start_relay,
        )
    )
