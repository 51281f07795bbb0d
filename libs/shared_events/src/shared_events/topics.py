"""Topic names: one topic per producing service, keyed by the aggregate id."""

from __future__ import annotations

DEFAULT_PARTITIONS = 6

CATALOG_EVENTS = "catalog.events"
INVENTORY_EVENTS = "inventory.events"
ORDER_EVENTS = "order.events"
PAYMENT_EVENTS = "payment.events"
MEMBERSHIP_EVENTS = "membership.events"
NOTIFICATION_EVENTS = "notification.events"

ALL_TOPICS = (
    CATALOG_EVENTS,
    INVENTORY_EVENTS,
    ORDER_EVENTS,
    PAYMENT_EVENTS,
    MEMBERSHIP_EVENTS,
    NOTIFICATION_EVENTS,
)


def topic_for_type(event_type: str) -> str:
    """`catalog.product.created` is published on `catalog.events`."""
    service = event_type.split(".", 1)[0]
    return f"{service}.events"


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"
