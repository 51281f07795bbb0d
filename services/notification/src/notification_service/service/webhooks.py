"""Webhook subscriptions, managed by admins: only allow-listed hosts, a secret shown once.
Events find their subscribers through the in-process cache (`subscribers_of`); creating and
deleting a subscription tell it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import as_utc
from chassis.errors import NotFound
from chassis.logging import get_logger
from chassis.pagination import Page, paginate
from chassis.rules import RuleError
from notification_service.deps import NotificationRuntime
from notification_service.domain.signing import new_secret
from notification_service.domain.webhooks import host_allowed
from notification_service.schemas import WebhookCreate, WebhookCreated, WebhookPublic
from notification_service.service.cache import NotificationCache, Subscription
from notification_service.tables import WebhookSubscriptionRow

log = get_logger(__name__)


def _public(row: WebhookSubscriptionRow) -> WebhookPublic:
    return WebhookPublic(
        id=row.id, url=row.url, events=list(row.events), created_at=as_utc(row.created_at)
    )


async def create_webhook(runtime: NotificationRuntime, body: WebhookCreate) -> WebhookCreated:
    url, hosts = str(body.url), runtime.settings.webhook_allowed_hosts
    if not host_allowed(url, hosts):
        raise RuleError(
            "webhook-host-not-allowed", f"webhooks may only go to these hosts: {', '.join(hosts)}"
        )
    row = WebhookSubscriptionRow(
        id=str(uuid.uuid4()),
        url=url,
        events=body.events,
        secret=new_secret(),
        created_at=datetime.now(UTC),
    )
    async with runtime.database.transaction() as session:
        runtime.state.cache.webhooks_written(session)
        session.add(row)
    log.info("webhook subscribed", webhook_id=row.id, events=row.events)
    return WebhookCreated(**_public(row).model_dump(), secret=row.secret)


async def list_webhooks(
    runtime: NotificationRuntime, *, page: int, size: int
) -> Page[WebhookPublic]:
    """Active subscriptions, oldest first."""
    statement = (
        select(WebhookSubscriptionRow)
        .where(col(WebhookSubscriptionRow.deleted_at).is_(None))
        .order_by(col(WebhookSubscriptionRow.created_at), col(WebhookSubscriptionRow.id))
    )
    async with runtime.database.sessions() as session:
        return await paginate(
            session, statement, page=page, size=size, shape=lambda rows: [_public(r) for r in rows]
        )


async def delete_webhook(runtime: NotificationRuntime, webhook_id: str) -> None:
    """Deliveries still queued for it fail at send time ("subscription deleted")."""
    async with runtime.database.transaction() as session:
        row = await session.get(WebhookSubscriptionRow, webhook_id)
        if row is None or row.deleted_at is not None:
            raise NotFound(f"webhook {webhook_id} does not exist")
        row.deleted_at = datetime.now(UTC)
        session.add(row)
        runtime.state.cache.webhooks_written(session)
    log.info("webhook deleted", webhook_id=webhook_id)


async def active_subscriptions(session: AsyncSession) -> tuple[Subscription, ...]:
    """Every active subscription, as plain values. They are few: filtered by event type in
    `subscribers_of`, not in SQL, which keeps the JSON column portable between PostgreSQL and
    SQLite."""
    rows = (
        await session.exec(
            select(WebhookSubscriptionRow)
            .where(col(WebhookSubscriptionRow.deleted_at).is_(None))
            .order_by(col(WebhookSubscriptionRow.id))
        )
    ).all()
    return tuple(Subscription(row.id, frozenset(row.events)) for row in rows)


async def subscribers_of(
    session: AsyncSession, cache: NotificationCache, event_type: str
) -> list[Subscription]:
    """Active subscriptions to `event_type`, through the cache."""
    subscriptions = await cache.subscriptions(session, active_subscriptions)
    return [s for s in subscriptions if event_type in s.events]
