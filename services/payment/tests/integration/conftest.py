"""A running payment service fed with real order events, shared by the tests of a module.

The service is started once per module: its consumer group (`payment-orders`) then joins
once instead of once per test. Tests keep apart by using their own order and member ids.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import pytest
from sqlmodel import col, select

from chassis.testing.infra import DatabaseFactory
from chassis.testing.kafka import read_envelopes
from chassis.testing.service import (
    FedService,
    serve_with_client,
    settings_under_test,
    started_producer,
)
from chassis.testing.tokens import TestTokenIssuer
from payment_service.adapters.providers import SandboxProvider
from payment_service.config import PaymentSettings
from payment_service.deps import PaymentRuntime
from payment_service.main import create_app
from payment_service.tables import LedgerEntryRow, PaymentIntentRow
from shared_events import Envelope, EventPayload
from shared_events.money import Money
from shared_events.order import OrderCancelledV1, OrderConfirmedV1, PaymentRequestedV1
from shared_events.topics import PAYMENT_EVENTS

# Small enough to reach in a test, big enough for the other tests' members.
VELOCITY_MAX = 3


@dataclass
class PaymentService(FedService[PaymentSettings, PaymentRuntime]):
    issuer: TestTokenIssuer
    sandbox: SandboxProvider

    async def send(
        self, payload: EventPayload, *, order_id: str, event_id: uuid.UUID | None = None
    ) -> Envelope:
        """Put an order event on `order.events` the way the order service's relay does."""
        return await self.feed(payload, subject=order_id, event_id=event_id)

    async def request(
        self,
        order_id: str,
        card: str = "tok_visa",
        *,
        amount: int = 12_800,
        currency: str = "CNY",
        member_id: str | None = None,
    ) -> Envelope:
        return await self.send(
            PaymentRequestedV1(
                order_id=order_id,
                member_id=member_id or f"m-{uuid.uuid4()}",
                amount=Money(amount=amount, currency=currency),
                payment_token=card,
            ),
            order_id=order_id,
        )

    async def confirm(self, order_id: str, *, event_id: uuid.UUID | None = None) -> Envelope:
        intent = await self.intent(order_id)
        assert intent is not None
        return await self.send(
            OrderConfirmedV1(
                order_id=order_id,
                member_id=intent.member_id,
                total=Money(amount=intent.amount, currency=intent.currency),
            ),
            order_id=order_id,
            event_id=event_id,
        )

    async def cancel(self, order_id: str, *, was_confirmed: bool) -> Envelope:
        return await self.send(
            OrderCancelledV1(
                order_id=order_id,
                member_id="m-any",
                reason="CANCELLED_BY_CUSTOMER",
                was_confirmed=was_confirmed,
            ),
            order_id=order_id,
        )

    async def events(
        self,
        order_id: str,
        *,
        until: Callable[[list[Envelope]], bool],
        timeout: float = 8.0,
    ) -> list[Envelope]:
        """The payment events of one order, read until `until` holds (bounded wait)."""
        return await read_envelopes(
            self.bootstrap, PAYMENT_EVENTS, key=order_id, until=until, timeout=timeout
        )

    async def events_until(self, order_id: str, event_type: str) -> list[Envelope]:
        """Every payment event of the order up to the first of `event_type`."""
        found = await self.events(
            order_id, until=lambda got: any(e.type == event_type for e in got)
        )
        assert [e.type for e in found][-1:] == [event_type], [e.type for e in found]
        return found

    async def intent(self, order_id: str) -> PaymentIntentRow | None:
        async with self.database.sessions() as session:
            query = select(PaymentIntentRow).where(PaymentIntentRow.order_id == order_id)
            return (await session.exec(query)).first()

    async def ledger(self, order_id: str) -> list[tuple[str, int]]:
        """(kind, amount) of the order's ledger rows, oldest first."""
        async with self.database.sessions() as session:
            rows = (
                await session.exec(
                    select(LedgerEntryRow)
                    .join(PaymentIntentRow, col(PaymentIntentRow.id) == LedgerEntryRow.intent_id)
                    .where(PaymentIntentRow.order_id == order_id)
                    .order_by(col(LedgerEntryRow.id))
                )
            ).all()
        return [(row.kind, row.amount) for row in rows]


@pytest.fixture(scope="module")
async def payment(
    create_database: DatabaseFactory,
    kafka_bootstrap_servers: str,
    redis_url: str,
    token_issuer: TestTokenIssuer,
) -> AsyncIterator[PaymentService]:
    settings = settings_under_test(
        PaymentSettings,
        database_url=await create_database("payment"),
        kafka_bootstrap_servers=kafka_bootstrap_servers,
        redis_url=redis_url,
        jwks_url=token_issuer.jwks_url,  # type: ignore[attr-defined]
        risk_velocity_max=VELOCITY_MAX,
    )
    sandbox = SandboxProvider()
    app = create_app(settings, provider=sandbox)
    async with (
        started_producer(kafka_bootstrap_servers) as producer,
        serve_with_client(app) as http,
    ):
        yield PaymentService(app, http, settings, producer, token_issuer, sandbox)


def new_order_id() -> str:
    return f"o-{uuid.uuid4()}"
