"""The payment service: chassis + routes + the order-events consumer; publishes payment.events."""

from __future__ import annotations

from dataclasses import replace

from fastapi import FastAPI

from chassis.service import Service
from payment_service.adapters.providers import PaymentProvider, SandboxProvider
from payment_service.api import router
from payment_service.config import MIGRATIONS_DIR, PaymentSettings
from payment_service.deps import PaymentRuntime, PaymentState
from payment_service.handlers import CONSUMERS
from shared_events.topics import PAYMENT_EVENTS

PAYMENT = Service(
    PaymentSettings,
    routers=[router],
    migrations_dir=MIGRATIONS_DIR,
    publishes=[PAYMENT_EVENTS],
    consumers=CONSUMERS,
)


def create_app(
    settings: PaymentSettings | None = None,
    *,
    start_relay: bool = True,
    provider: PaymentProvider | None = None,
) -> FastAPI:
    """`provider`: the payment provider adapter (tests pass a scripted one); the sandbox's
    by default."""
    chosen = provider or SandboxProvider()

    async def state(runtime: PaymentRuntime) -> PaymentState:
        return PaymentState.build(runtime.settings, chosen)

    return replace(PAYMENT, state=state).create_app(settings, start_relay=start_relay)
