"""Notification tables. Never returned by the API, never published: see schemas.py for those.

`recipients` and `order_recipients` are read models of membership and order events;
`preferences` and `webhook_subscriptions` are owned here; `deliveries` is the delivery log and
the dispatch queue at once, with one row per (cause event, channel, recipient);
`parked_messages` holds the messages to members not known here yet; `recall_notices` the
(recall, order) pairs whose member has been told; `dead_letter_alerts` what the operators were
last told about each dead-letter topic.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from chassis.columns import big_integer, check_one_of, not_negative, partial_index, utc_timestamp
from notification_service.domain.channels import Channel
from notification_service.domain.delivery import DeliveryStatus


def _flag(default: bool) -> Any:
    return Field(
        default=default,
        sa_column=sa.Column(
            sa.Boolean, nullable=False, server_default=sa.true() if default else sa.false()
        ),
    )


class RecipientRow(SQLModel, table=True):
    """A member as notifications need them, from `membership.member.*` events."""

    __tablename__ = "recipients"

    member_id: str = Field(primary_key=True, max_length=64)
    email: str = Field(max_length=320)
    name: str = Field(max_length=200)
    locale: str = Field(max_length=16)
    phone: str | None = Field(default=None, max_length=32)  # E.164 or none: email only
    # The marketing consent membership last told (`membership.member.updated`); None before
    # its first word. Only a change of it is applied to the preferences (service/recipients.py).
    membership_consent: bool | None = None
    updated_at: datetime = utc_timestamp()


class PreferenceRow(SQLModel, table=True):
    """No row means the defaults: every channel on, marketing off."""

    __tablename__ = "preferences"

    member_id: str = Field(primary_key=True, max_length=64)
    email: bool = _flag(True)
    sms: bool = _flag(True)
    webhook: bool = _flag(True)
    marketing_consent: bool = _flag(False)
    updated_at: datetime = utc_timestamp()


class MemberOrderRow(SQLModel, table=True):
    """Whose order it is, from `order.order.placed`: refunds name the order only."""

    __tablename__ = "order_recipients"

    order_id: str = Field(primary_key=True, max_length=64)
    member_id: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    total: int = big_integer()
    placed_at: datetime = utc_timestamp()


class WebhookSubscriptionRow(SQLModel, table=True):
    """`secret` signs every POST (HMAC needs it in the clear); it is shown once, at creation.
    A deleted subscription keeps its row (`deleted_at`) so the delivery log still resolves."""

    __tablename__ = "webhook_subscriptions"

    id: str = Field(primary_key=True, max_length=36)
    url: str = Field(max_length=2000)
    events: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    secret: str = Field(max_length=100)
    created_at: datetime = utc_timestamp()
    deleted_at: datetime | None = utc_timestamp(nullable=True)


class DeliveryRow(SQLModel, table=True):
    """One message to one recipient on one channel because of one event.

    `recipient` is the address (email, phone) or, for webhooks, the subscription id. The
    rendered message is kept so retries send the same text. The job sends rows that are due
    (PENDING or RETRY, `next_attempt_at` passed); SENT and FAILED rows are final.
    """

    __tablename__ = "deliveries"
    __table_args__ = (
        sa.UniqueConstraint(
            "cause_event_id", "channel", "recipient", name="uq_deliveries_cause_channel_recipient"
        ),
        check_one_of("deliveries", "channel", Channel),
        check_one_of("deliveries", "status", DeliveryStatus),
        *not_negative("deliveries", "attempts"),
        sa.Index("ix_deliveries_member_created", "member_id", "created_at"),
        # The rows the dispatch job looks for: domain.delivery.DUE_STATUSES.
        partial_index(
            "ix_deliveries_due", "next_attempt_at", where="status IN ('PENDING', 'RETRY')"
        ),
        # The rows the retention job deletes (service/retention.py).
        partial_index("ix_deliveries_final", "updated_at", where="status IN ('SENT', 'FAILED')"),
    )

    id: str = Field(primary_key=True, max_length=36)
    cause_event_id: str = Field(max_length=36)
    cause_event_type: str = Field(max_length=200)
    correlation_id: str | None = Field(default=None, max_length=200)
    channel: str = Field(max_length=10)
    recipient: str = Field(max_length=320)
    member_id: str | None = Field(default=None, max_length=64)
    template: str = Field(max_length=200)
    locale: str | None = Field(default=None, max_length=16)
    subject: str = Field(max_length=500)
    body: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    html: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    status: str = Field(max_length=10)
    attempts: int = 0
    last_error: str | None = Field(default=None, max_length=500)
    created_at: datetime = utc_timestamp()
    updated_at: datetime = utc_timestamp()
    next_attempt_at: datetime | None = utc_timestamp(nullable=True)
    sent_at: datetime | None = utc_timestamp(nullable=True)


class ParkedMessageRow(SQLModel, table=True):
    """A message to a member whose `membership.member.registered` has not been handled here
    yet (other topics are not ordered after it). The event is kept whole, to be rendered
    for the member when the registration is recorded; then the row goes. Rows older than
    the retention are deleted (a member that never registers here), safety notices excepted."""

    __tablename__ = "parked_messages"
    __table_args__ = (
        # One message per (member, event): a second handling of the event parks nothing more.
        # Also the registration's lookup (DELETE ... WHERE member_id = ...).
        sa.UniqueConstraint("member_id", "cause_event_id", name="uq_parked_messages_member_cause"),
        sa.Index("ix_parked_messages_created", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    member_id: str = Field(max_length=64)
    cause_event_id: str = Field(max_length=36)
    cause_event_type: str = Field(max_length=200)
    template: str = Field(max_length=200)
    # The version the handler read the event as: it is read again as that version.
    event_version: int
    envelope: dict[str, Any] = Field(sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = utc_timestamp()


class RecallNoticeRow(SQLModel, table=True):
    """A member was told (or their notice parked) about a recall of what one order brought
    them. The key is the recall and the order, not the event: the same pair under another
    event id (inventory re-running a recall) must not notify the member again."""

    __tablename__ = "recall_notices"

    recall_id: str = Field(primary_key=True, max_length=64)
    order_id: str = Field(primary_key=True, max_length=64)
    cause_event_id: str = Field(max_length=36)
    created_at: datetime = utc_timestamp()


class DeadLetterAlertRow(SQLModel, table=True):
    """What the operators were last told about one dead-letter topic (`domain.dead_letters`):
    the records ever written to it then, and when. Locked while a replica decides, so two
    replicas never send the same news."""

    __tablename__ = "dead_letter_alerts"

    topic: str = Field(primary_key=True, max_length=249)  # Kafka's longest topic name
    written: int = big_integer()
    notified_at: datetime | None = utc_timestamp(nullable=True)
