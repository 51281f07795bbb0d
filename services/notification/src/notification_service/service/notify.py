"""From an event to delivery rows, in the consuming handler's transaction.

An event may call for a message (a `Notice`) to a member or to the operators, and it is
forwarded to the webhooks subscribed to its type. Each (event, channel, recipient) becomes one
PENDING row, rendered now in the recipient's language; the UNIQUE key on those three makes a
second handling of the same event write nothing. Nothing is sent here: the dispatch job sends
after the commit, so a slow mail server or subscriber never holds a partition.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.consumer import Delivery
from chassis.logging import get_logger
from notification_service.config import NotificationSettings
from notification_service.domain import (
    WEBHOOK_EVENT_TYPES,
    Channel,
    DeliveryStatus,
    Notice,
    Preferences,
    event_category,
    resolve_locale,
)
from notification_service.rendering import Rendered, Renderer
from notification_service.service import preferences, recipients, webhooks
from notification_service.service.cache import NotificationCache
from notification_service.service.common import display_recipient, now
from notification_service.tables import DeliveryRow
from shared_events import Envelope

log = get_logger(__name__)


# INSERT ... ON CONFLICT DO NOTHING RETURNING id, built once per dialect and executed with the
# rows as parameters: SQLAlchemy compiles it once and reuses it. (`insert(...).values(rows)`
# is compiled anew for every event, which cost more CPU than the rest of the handling.)
_INSERTS = {
    dialect.__name__.rsplit(".", 1)[-1]: dialect.insert(DeliveryRow)
    .on_conflict_do_nothing()
    .returning(DeliveryRow.id)
    for dialect in (postgresql, sqlite)
}


async def _insert_new(session: AsyncSession, rows: list[dict[str, Any]]) -> int:
    """Insert the rows whose (cause, channel, recipient) is not taken; how many went in."""
    dialect = session.bind.dialect.name if session.bind is not None else "postgresql"
    result = await session.exec(_INSERTS[dialect], params=rows)
    return len(result.all())


@dataclass(frozen=True, slots=True)
class Draft:
    """One delivery row before it has an id and its cause."""

    channel: Channel
    recipient: str
    template: str
    subject: str
    body: str
    html: str | None = None
    locale: str | None = None
    member_id: str | None = None


def webhook_body(envelope: Envelope) -> str:
    """What subscribers receive: the event, not our rendering of it."""
    return json.dumps(
        {
            "id": str(envelope.id),
            "type": envelope.type,
            "subject": envelope.subject,
            "time": envelope.time.isoformat(),
            "data": envelope.data,
        },
        separators=(",", ":"),
        ensure_ascii=False,
    )


def _drafts(
    channels: list[tuple[Channel, str]], notice: Notice, locale: str, rendered: Rendered
) -> list[Draft]:
    return [
        Draft(
            channel=channel,
            recipient=address,
            template=notice.template.value,
            subject=rendered.subject,
            body=rendered.text,
            html=rendered.html if channel is Channel.EMAIL else None,
            locale=locale,
            member_id=notice.member_id,
        )
        for channel, address in channels
    ]


@dataclass(frozen=True)
class Notifier:
    renderer: Renderer
    operator_emails: tuple[str, ...] = ()
    operator_locale: str = "zh-CN"
    # Preferences and webhook subscriptions, shared with the routes that change them.
    cache: NotificationCache = field(default_factory=NotificationCache)

    @classmethod
    def from_settings(cls, settings: NotificationSettings, renderer: Renderer) -> Notifier:
        return cls(
            renderer,
            tuple(dict.fromkeys(settings.operator_emails)),
            settings.operator_locale,
            NotificationCache(
                ttl_seconds=settings.cache_ttl_seconds,
                check_seconds=settings.cache_check_seconds,
                max_members=settings.cache_max_members,
            ),
        )

    async def notify(
        self, delivery: Delivery, notice: Notice | None, *, member_id: str | None = None
    ) -> int:
        """Write the rows `notice` and the event's webhooks call for; return how many are new.
        `member_id` names the member a notice-less event concerns (for webhook opt-out)."""
        session, envelope = delivery.session, delivery.envelope
        member_id = notice.member_id if notice is not None else member_id
        prefs = await preferences.cached(session, self.cache, member_id) if member_id else None
        drafts: list[Draft] = []
        if notice is not None:
            drafts += await self._messages(session, notice, prefs)
        drafts += await self._webhooks(session, envelope, member_id, prefs)
        if not drafts:
            return 0
        at = now()
        rows = [self._row(envelope, draft, at) for draft in drafts]
        written = await _insert_new(session, rows)
        log.info(
            "deliveries queued",
            event_id=str(envelope.id),
            event_type=envelope.type,
            new=written,
            recipients=[f"{d.channel}:{display_recipient(d.channel, d.recipient)}" for d in drafts],
        )
        return written

    async def _messages(
        self, session: AsyncSession, notice: Notice, prefs: Preferences | None
    ) -> list[Draft]:
        if notice.member_id is None:  # for the operators, who have no preferences here
            locale = self.operator_locale
            rendered = self.renderer.render(notice.template, locale, notice.context())
            return _drafts(
                [(Channel.EMAIL, a) for a in self.operator_emails], notice, locale, rendered
            )
        member = await recipients.recipient(session, notice.member_id)
        if member is None:
            log.warning(
                "member unknown here, message not sent",
                member_id=notice.member_id,
                template=notice.template.value,
            )
            return []
        prefs = prefs or Preferences()
        addresses = [(Channel.EMAIL, member.email)]
        if member.phone:
            addresses.append((Channel.SMS, member.phone))
        allowed = [(c, a) for c, a in addresses if prefs.allows(c, notice.category)]
        if not allowed:
            return []
        locale = resolve_locale(member.locale)
        rendered = self.renderer.render(
            notice.template, locale, {**notice.context(), "name": member.name}
        )
        return _drafts(allowed, notice, locale, rendered)

    async def _webhooks(
        self,
        session: AsyncSession,
        envelope: Envelope,
        member_id: str | None,
        prefs: Preferences | None,
    ) -> list[Draft]:
        if envelope.type not in WEBHOOK_EVENT_TYPES:
            return []
        if prefs is not None and not prefs.allows(Channel.WEBHOOK, event_category(envelope.type)):
            return []  # the member opted out of having their events forwarded
        subscribers = await webhooks.subscribers_of(session, self.cache, envelope.type)
        body = webhook_body(envelope) if subscribers else ""
        return [
            Draft(
                channel=Channel.WEBHOOK,
                recipient=subscriber.id,
                template=envelope.type,
                subject=envelope.type,
                body=body,
                member_id=member_id,
            )
            for subscriber in subscribers
        ]

    @staticmethod
    def _row(envelope: Envelope, draft: Draft, at: Any) -> dict[str, Any]:
        return {
            "id": str(uuid.uuid4()),
            "cause_event_id": str(envelope.id),
            "cause_event_type": envelope.type,
            "correlation_id": envelope.correlationid or envelope.subject,
            "channel": draft.channel.value,
            "recipient": draft.recipient,
            "member_id": draft.member_id,
            "template": draft.template,
            "locale": draft.locale,
            "subject": draft.subject,
            "body": draft.body,
            "html": draft.html,
            "status": DeliveryStatus.PENDING.value,
            "attempts": 0,
            "created_at": at,
            "updated_at": at,
            "next_attempt_at": at,
        }
