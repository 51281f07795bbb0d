"""Topic names: one topic per producing service, keyed by the aggregate id, except the few
high-volume types in `_OWN_TOPIC` (see docs/architecture.md)."""

from __future__ import annotations

DEFAULT_PARTITIONS = 6

CATALOG_EVENTS = "catalog.events"
INVENTORY_EVENTS = "inventory.events"
ORDER_EVENTS = "order.events"
PAYMENT_EVENTS = "payment.events"
MEMBERSHIP_EVENTS = "membership.events"
NOTIFICATION_EVENTS = "notification.events"
# Storefront clickstream (product views), read only by analytics.
CATALOG_VIEWS = "catalog.views"

ALL_TOPICS = (
    CATALOG_EVENTS,
    INVENTORY_EVENTS,
    ORDER_EVENTS,
    PAYMENT_EVENTS,
    MEMBERSHIP_EVENTS,
    NOTIFICATION_EVENTS,
    CATALOG_VIEWS,
)


# Types not published on `<service>.events`. Views are clickstream: on catalog.events every
# group reading that topic (order, inventory, analytics) would fetch and skip each one.
_OWN_TOPIC = {
    "catalog.product.viewed": CATALOG_VIEWS,
}


def topic_for_type(event_type: str) -> str:
    """`catalog.product.created` is published on `catalog.events`, `catalog.product.viewed` on
    `catalog.views`."""
    if event_type in _OWN_TOPIC:
        return _OWN_TOPIC[event_type]
    service = event_type.split(".", 1)[0]
    return f"{service}.events"


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"
