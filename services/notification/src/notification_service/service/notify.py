"""From an event to delivery rows, in the consuming handler's transaction.

An event may call for a message (a `Notice`) to a member or to the operators, and it is
forwarded to the webhooks subscribed to its type. Each (event, channel, recipient) becomes one
PENDING row, rendered now in the recipient's language; the UNIQUE key on those three makes a
second handling of the same event write nothing. Nothing is sent here: the dispatch job sends
after the commit, so a slow mail server or subscriber never holds a partition. A message to a
member not known here yet is parked (`service/parking.py`) and written when their
registration is recorded (`release_parked`).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.consumer import Delivery
from chassis.db import insert_ignore
from chassis.logging import get_logger
from notification_service.deps import NotificationRuntime
from notification_service.domain.channels import Channel
from notification_service.domain.delivery import DeliveryStatus
from notification_service.domain.locales import resolve_locale
from notification_service.domain.notices import Notice, for_refund, notice_for
from notification_service.domain.preferences import Preferences
from notification_service.domain.templates import Template
from notification_service.domain.webhooks import (
    WEBHOOK_EVENT_TYPES,
    WITHHELD_FIELDS,
    event_category,
)
from notification_service.service import parking, preferences, recalls, recipients, webhooks
from notification_service.service.masking import display_recipient
from notification_service.service.rendering import Rendered, Renderer
from notification_service.tables import DeliveryRow, RecipientRow
from shared_events import Envelope, EventPayload, registry
from shared_events.inventory import RecallCustomerAffectedV1
from shared_events.order import OrderPlacedV1
from shared_events.payment import PaymentRefundedV1

log = get_logger(__name__)


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
    """What subscribers receive: the event, not our rendering of it, less `WITHHELD_FIELDS`."""
    data = {k: v for k, v in envelope.data.items() if k not in WITHHELD_FIELDS}
    return json.dumps(
        {
            "id": str(envelope.id),
            "type": envelope.type,
            "subject": envelope.subject,
            "time": envelope.time.isoformat(),
            "data": data,
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
            body=rendered.sms if channel is Channel.SMS else rendered.text,
            html=rendered.html if channel is Channel.EMAIL else None,
            locale=locale,
            member_id=notice.member_id,
        )
        for channel, address in channels
    ]


NotificationDelivery = Delivery[NotificationRuntime]


async def announce(delivery: NotificationDelivery, event: EventPayload) -> int:
    """The notice the event calls for by itself, and its webhooks."""
    member_id: str | None = getattr(event, "member_id", None)
    return await notify(delivery, notice_for(event), member_id=member_id)


async def announce_order(delivery: NotificationDelivery, event: OrderPlacedV1) -> int:
    """Remember whose order it is (refunds name the order only), then forward the event."""
    await recipients.record_order(delivery.session, event)
    return await announce(delivery, event)


async def announce_refund(delivery: NotificationDelivery, event: PaymentRefundedV1) -> int:
    """A refund names the order only: the member comes from the order read model."""
    member_id = await recipients.member_of_order(delivery.session, event.order_id)
    notice = for_refund(event, member_id) if member_id else None
    return await notify(delivery, notice, member_id=member_id)


async def announce_recall(delivery: NotificationDelivery, event: RecallCustomerAffectedV1) -> int:
    """The member's recall notice, once per (recall, order) whatever the event id."""
    if not await recalls.claim(delivery.session, delivery.envelope, event):
        log.info(
            "recall notice already sent for this order, skipped",
            recall_id=event.recall_id,
            order_id=event.order_id,
            event_id=str(delivery.envelope.id),
        )
        return 0
    return await announce(delivery, event)


async def notify(
    delivery: NotificationDelivery, notice: Notice | None, *, member_id: str | None = None
) -> int:
    """Write the rows `notice` and the event's webhooks call for; return how many are new.
    `member_id` names the member a notice-less event concerns (for webhook opt-out)."""
    session, envelope, runtime = delivery.session, delivery.envelope, delivery.runtime
    cache = runtime.state.cache
    member_id = notice.member_id if notice is not None else member_id
    prefs = await preferences.cached(session, cache, member_id) if member_id else None
    drafts: list[Draft] = []
    if notice is not None:
        drafts += await _messages(delivery, notice, prefs)
    drafts += await _webhooks(runtime, session, envelope, member_id, prefs)
    if not drafts:
        return 0
    at = datetime.now(UTC)
    rows = [_row(envelope, draft, at) for draft in drafts]
    written = await insert_ignore(session, DeliveryRow, rows)
    log.info(
        "deliveries queued",
        event_id=str(envelope.id),
        event_type=envelope.type,
        new=written,
        recipients=[f"{d.channel}:{display_recipient(d.channel, d.recipient)}" for d in drafts],
    )
    return written


async def _messages(
    delivery: NotificationDelivery, notice: Notice, prefs: Preferences | None
) -> list[Draft]:
    session, runtime = delivery.session, delivery.runtime
    renderer = runtime.state.renderer
    if notice.member_id is None:  # for the operators, who have no preferences here
        locale = runtime.settings.operator_locale
        rendered = renderer.render(notice.template, locale, notice.context())
        operators = dict.fromkeys(runtime.settings.operator_emails)  # each address once
        return _drafts([(Channel.EMAIL, a) for a in operators], notice, locale, rendered)
    member = await recipients.recipient(session, notice.member_id)
    if member is None:
        # Their registration has not been handled here yet (another topic): keep the message,
        # unless it committed meanwhile (read again under the member's lock, see parking).
        member = await parking.recipient_or_lock(session, notice.member_id)
    if member is None:
        parked = await parking.park(
            session,
            notice.member_id,
            delivery.envelope,
            notice.template,
            notice.event.event_version,
        )
        log.info(
            "member not known yet, message parked",
            member_id=notice.member_id,
            template=notice.template.value,
            event_id=str(delivery.envelope.id),
            new=parked,
        )
        return []
    return _member_messages(renderer, notice, member, prefs or Preferences())


def _member_messages(
    renderer: Renderer, notice: Notice, member: RecipientRow, prefs: Preferences
) -> list[Draft]:
    addresses = [(Channel.EMAIL, member.email)]
    if member.phone:
        addresses.append((Channel.SMS, member.phone))
    allowed = [(c, a) for c, a in addresses if prefs.allows(c, notice.category)]
    if not allowed:
        return []
    locale = resolve_locale(member.locale)
    rendered = renderer.render(notice.template, locale, {**notice.context(), "name": member.name})
    return _drafts(allowed, notice, locale, rendered)


async def _webhooks(
    runtime: NotificationRuntime,
    session: AsyncSession,
    envelope: Envelope,
    member_id: str | None,
    prefs: Preferences | None,
) -> list[Draft]:
    if envelope.type not in WEBHOOK_EVENT_TYPES:
        return []
    if prefs is not None and not prefs.allows(Channel.WEBHOOK, event_category(envelope.type)):
        return []  # the member opted out of having their events forwarded
    subscribers = await webhooks.subscribers_of(session, runtime.state.cache, envelope.type)
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


async def release_parked(delivery: NotificationDelivery, member: RecipientRow) -> int:
    """Write the messages parked for `member`, now that their registration is recorded in
    this transaction; return how many rows are new. When nothing is parked (nearly always):
    the member's lock (`parking.take`) and one DELETE ... RETURNING.

    They keep the order their events were handled in, and are due one dispatch round from
    now: the welcome, which membership publishes right after the registration on the same
    partition (normally handled in the same poll), goes out before them."""
    session, runtime, member_id = delivery.session, delivery.runtime, member.member_id
    parked = await parking.take(session, member_id)
    if not parked:
        return 0
    prefs = await preferences.cached(session, runtime.state.cache, member_id)
    at = datetime.now(UTC)
    due = at + timedelta(seconds=runtime.settings.dispatch_interval_seconds)
    rows: list[dict[str, Any]] = []
    for n, message in enumerate(parked):
        try:
            event = registry.parse(message.envelope, message.event_version)
            notice = Notice(Template(message.template), event, member_id)
        except ValueError as exc:  # parked by an older release: its event or template is gone
            log.error(
                "parked message can no longer be rendered, dropped",
                member_id=member_id,
                event_id=str(message.envelope.id),
                template=message.template,
                error=str(exc),
            )
            continue
        step = timedelta(microseconds=n)  # the claim order is `next_attempt_at`
        drafts = _member_messages(runtime.state.renderer, notice, member, prefs)
        rows += [_row(message.envelope, d, at + step, due=due + step) for d in drafts]
    written = await insert_ignore(session, DeliveryRow, rows) if rows else 0
    log.info(
        "parked messages released",
        member_id=member_id,
        parked=len(parked),
        new=written,
        event_ids=[str(message.envelope.id) for message in parked],
    )
    return written


def _row(
    envelope: Envelope, draft: Draft, at: datetime, *, due: datetime | None = None
) -> dict[str, Any]:
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
        "next_attempt_at": due or at,
    }
