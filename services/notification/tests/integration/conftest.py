"""The notification service on real PostgreSQL, Redis and a Kafka-protocol broker of each
test's own (`isolated_kafka`), with a real SMTP server (aiosmtpd) and a real HTTP server for
webhooks, both on loopback ports (servers.py).

Events go in as the other services' relays send them (CloudEvents, binary mode); what comes
out is read where it lands: the SMTP server's mailbox, the webhook server's log, the
`notification.events` topic and the delivery log.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import col, select

from chassis.testing.infra import free_port
from chassis.testing.kafka import read_envelopes
from chassis.testing.orders import order_confirmed, order_line, order_placed
from chassis.testing.service import (
    FedService,
    ServersUnderTest,
    serve_with_client,
    started_producer,
)
from chassis.testing.tokens import TestTokenIssuer, bearer
from notification_service.config import NotificationSettings
from notification_service.deps import NotificationRuntime
from notification_service.main import create_app
from notification_service.tables import DeliveryRow
from shared_events import Envelope, EventPayload
from shared_events.membership import CouponIssuedV1, MemberRegisteredV1
from shared_events.money import Money
from shared_events.order import OrderConfirmedV1, OrderPlacedV1
from shared_events.topics import NOTIFICATION_EVENTS

from .servers import MailCatcher, WebhookReceiver

OPERATOR = "ops@shop.example"
MAIL_FROM = "Commerce Suite <no-reply@shop.example>"
MAX_ATTEMPTS = 4
BACKOFF = 0.1
CACHE_CHECK = 0.2  # how often the cache looks at the change feed


@pytest.fixture
def smtp() -> Iterator[tuple[MailCatcher, int]]:
    catcher = MailCatcher()
    port = free_port()
    catcher.serve("127.0.0.1", port)
    try:
        yield catcher, port
    finally:
        catcher.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver()
    server.start()
    yield server
    server.stop()


# ---- the service ------------------------------------------------------------------------


def cny(amount: int) -> Money:
    return Money(amount=amount, currency="CNY")


@dataclass
class Notification(FedService[NotificationSettings, NotificationRuntime]):
    issuer: TestTokenIssuer
    mail: MailCatcher

    @property
    def admin(self) -> dict[str, str]:
        return bearer(self.issuer.admin_token())

    def member(self, member_id: str) -> dict[str, str]:
        return bearer(self.issuer.token(member_id))

    async def publish(
        self, payload: EventPayload, subject: str, *, event_id: uuid.UUID | None = None
    ) -> Envelope:
        """Put an event on its topic the way its service's outbox relay does."""
        return await self.feed(payload, subject=subject, event_id=event_id)

    async def handled(self, envelope: Envelope, timeout: float = 15.0) -> None:
        """Until a consumer has committed the event (its inbox row exists)."""
        await super().handled(envelope, timeout)

    async def deliveries(self, **where: Any) -> list[DeliveryRow]:
        query = select(DeliveryRow).order_by(col(DeliveryRow.created_at))
        for name, value in where.items():
            query = query.where(getattr(DeliveryRow, name) == value)
        async with self.database.sessions() as session:
            return list((await session.exec(query)).all())

    async def register(
        self,
        member_id: str,
        email_address: str,
        locale: str,
        name: str,
        *,
        phone: str | None = None,
    ) -> Envelope:
        """Registration as membership publishes it: the member (with the phone number they
        gave, if any), then the welcome gift (whose envelope is returned). A test that goes on
        with the member's orders waits for the welcome first, as the member would: other
        topics' events are not ordered after these, and a message for a member not known yet
        is held back until the registration."""
        await self.publish(
            MemberRegisteredV1(
                member_id=member_id,
                email=email_address,
                name=name,
                locale=locale,
                registered_at=datetime.now(UTC),
                phone=phone,
            ),
            member_id,
        )
        return await self.publish(
            coupon(member_id, "WELCOME_GIFT", f"WELCOME-{member_id[:6].upper()}"), member_id
        )

    async def confirm(self, order_id: str, member_id: str, total: int = 12_600) -> Envelope:
        await self.publish(placed(order_id, member_id, total), order_id)
        return await self.publish(confirmed(order_id, member_id, total), order_id)

    async def published(
        self, until: Callable[[list[Envelope]], bool], timeout: float = 10.0
    ) -> list[Envelope]:
        return await read_envelopes(
            self.bootstrap, NOTIFICATION_EVENTS, until=until, timeout=timeout
        )


def coupon(member_id: str, kind: str, code: str) -> CouponIssuedV1:
    at = datetime.now(UTC)
    return CouponIssuedV1(
        member_id=member_id,
        coupon_code=code,
        kind=kind,
        amount_off=cny(1_000),
        min_spend=cny(5_000),
        valid_from=at,
        valid_until=at + timedelta(days=30),
    )


def confirmed(order_id: str, member_id: str, total: int = 12_600) -> OrderConfirmedV1:
    return order_confirmed(order_id, member_id=member_id, total=total)


def placed(order_id: str, member_id: str, total: int) -> OrderPlacedV1:
    line = order_line("TEA-250", 1, total, product_id="p-tea", name="Jasmine tea")
    return order_placed(order_id, [line], member_id=member_id)


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4()}"


async def notification_settings(
    servers_under_test: ServersUnderTest, kafka: str, smtp_port: int, **overrides: Any
) -> NotificationSettings:
    """The settings the `notification` fixture runs with, on a database of its own."""
    values: dict[str, Any] = {
        "smtp_port": smtp_port,
        "mail_from": MAIL_FROM,
        "operator_emails": [OPERATOR],
        "operator_locale": "en",
        "dispatch_interval_seconds": 0.05,
        "webhook_max_attempts": MAX_ATTEMPTS,
        "webhook_backoff_seconds": BACKOFF,
        "message_backoff_seconds": 0.1,
        # Entries never age out during a test: only invalidation (this replica's writes, the
        # change feed) can make a change visible, which is what the tests check.
        "cache_ttl_seconds": 300,
        "cache_check_seconds": CACHE_CHECK,
    }
    return await servers_under_test.settings(
        NotificationSettings,
        "notification",
        kafka_bootstrap_servers=kafka,
        **{**values, **overrides},
    )


@pytest.fixture
async def notification(
    servers_under_test: ServersUnderTest,
    isolated_kafka: str,
    token_issuer: TestTokenIssuer,
    smtp: tuple[MailCatcher, int],
) -> AsyncIterator[Notification]:
    catcher, smtp_port = smtp
    settings = await notification_settings(servers_under_test, isolated_kafka, smtp_port)
    app = create_app(settings)
    async with started_producer(isolated_kafka) as producer, serve_with_client(app) as http:
        yield Notification(app, http, settings, producer, token_issuer, catcher)
