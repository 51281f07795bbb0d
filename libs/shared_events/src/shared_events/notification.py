"""Events published by the notification service on `notification.events` (subject: the
delivery id)."""

from __future__ import annotations

from shared_events.registry import EventPayload, registry


@registry.event("notification.delivery.sent", 1, key="delivery id")
class DeliverySentV1(EventPayload):
    """`channel`: EMAIL, SMS, WEBHOOK. `recipient` is masked (a***@example.com)."""

    delivery_id: str
    channel: str
    template: str
    recipient: str
    member_id: str | None = None
    cause_event_id: str


@registry.event("notification.delivery.failed", 1, key="delivery id")
class DeliveryFailedV1(EventPayload):
    delivery_id: str
    channel: str
    template: str
    recipient: str
    member_id: str | None = None
    cause_event_id: str
    attempts: int
    error: str
