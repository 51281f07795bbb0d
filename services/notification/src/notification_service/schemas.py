"""What the notification API accepts and returns. Inputs forbid unknown fields."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import AfterValidator, BaseModel, Field, HttpUrl, StrictBool, UrlConstraints

from chassis.validation import RequestModel, Text
from notification_service.domain.channels import Channel
from notification_service.domain.delivery import DeliveryStatus
from notification_service.domain.webhooks import WEBHOOK_EVENT_TYPES


class PreferencesPublic(BaseModel):
    email: bool
    sms: bool
    webhook: bool
    marketing_consent: bool
    updated_at: datetime | None  # None: never changed, these are the defaults


class PreferencesPut(RequestModel):
    """Every field is optional: what is left out keeps its value."""

    email: StrictBool | None = None
    sms: StrictBool | None = None
    webhook: StrictBool | None = None
    marketing_consent: StrictBool | None = None


class DeliveryPublic(BaseModel):
    """A message as its recipient sees it in their list."""

    id: str
    channel: Channel
    template: str
    subject: str
    recipient: str  # masked: a***@example.com
    status: DeliveryStatus
    attempts: int
    created_at: datetime
    sent_at: datetime | None


class DeliveryAdmin(DeliveryPublic):
    member_id: str | None
    cause_event_id: str
    cause_event_type: str
    last_error: str | None
    next_attempt_at: datetime | None


def _known_types(events: list[str]) -> list[str]:
    unknown = sorted(set(events) - WEBHOOK_EVENT_TYPES)
    if unknown:
        raise ValueError(
            f"unknown event types {unknown}; choose from {sorted(WEBHOOK_EVENT_TYPES)}"
        )
    return sorted(set(events))


class WebhookCreate(RequestModel):
    url: Annotated[HttpUrl, UrlConstraints(max_length=2000)]
    events: Annotated[
        list[Annotated[Text, Field(max_length=100)]],
        Field(min_length=1, max_length=50),
        AfterValidator(_known_types),
    ]


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    created_at: datetime


class WebhookCreated(WebhookPublic):
    """The only time the secret is shown: keep it to verify `Webhook-Signature`."""

    secret: str
