"""The payment service: chassis + routes + the order-events consumer; publishes payment.events."""

from __future__ import annotations

from fastapi import FastAPI

from chassis.app import ServiceSpec, create_service_app
from payment_service.adapters.providers import PaymentProvider, SandboxProvider
from payment_service.api import router
from payment_service.config import MIGRATIONS_DIR, PaymentSettings
from payment_service.deps import PaymentRuntime, PaymentState
from payment_service.handlers import CONSUMERS
from shared_events.topics import PAYMENT_EVENTS


def create_app(
    settings: PaymentSettings | None = None,
    *,
    start_relay: bool = True,
    provider: PaymentProvider | None = None,
) -> FastAPI:
    settings = settings or PaymentSettings()
    chosen = provider or SandboxProvider()

    async def state(runtime: PaymentRuntime) -> PaymentState:
        return PaymentState.build(runtime.settings, chosen)

    return create_service_app(
        ServiceSpec(
            settings=settings,
            title="Payment service",
            routers=[router],
            migrations_dir=MIGRATIONS_DIR,
            publishes=[PAYMENT_EVENTS],
            consumers=CONSUMERS,
            state=state,
            start_relay=start_relay,
        )
    )
