"""The payment service: chassis + routes + the order-events consumer; publishes payment.events."""

from __future__ import annotations

from dataclasses import replace

from fastapi import FastAPI

from chassis.service import Service
from payment_service.adapters.providers import PaymentProvider, SandboxProvider
from payment_service.config import PaymentSettings
from payment_service.deps import PaymentRuntime, PaymentState
from shared_events.topics import PAYMENT_EVENTS

PAYMENT = Service(PaymentSettings, publishes=[PAYMENT_EVENTS])


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
