"""Topics, declared once: their names, and for each topic and its dead-letter topic the
partitions, retention and cleanup policy (`TOPICS`), which `python -m chassis.topics apply` and
every service's start-up apply to the broker. One topic per producing service, keyed by the
aggregate id, except the few high-volume types in `_OWN_TOPIC` (see docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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

DAY_MS = 24 * 60 * 60 * 1000
# Domain events: two weeks, long enough for a consumer down over a long weekend, a new
# downstream team's first replay, or a rebuild of analytics from the log.
DOMAIN_RETENTION_MS = 14 * DAY_MS
# Clickstream: views are only counted by analytics, which reads them within seconds; three days
# covers an outage of it without keeping the suite's largest topic for weeks.
VIEWS_RETENTION_MS = 3 * DAY_MS
# Dead letters: a month, so an operator back from leave can still inspect and replay them.
DEAD_LETTER_RETENTION_MS = 30 * DAY_MS
# How long a record may still come (back) to a consumer: an inbox dropping redeliveries keeps
# its rows longer than this.
LONGEST_RETENTION_MS = max(DOMAIN_RETENTION_MS, VIEWS_RETENTION_MS, DEAD_LETTER_RETENTION_MS)

# The largest record an event may make (value, key and headers): under Kafka's default
# `message.max.bytes` (1,048,588) and a producer's default `max_request_size` (1 MiB), with room
# for the batch's framing. A larger one would be refused by the broker on every try.
MAX_RECORD_BYTES = 1_000_000

CleanupPolicy = Literal["delete", "compact", "compact,delete"]


@dataclass(frozen=True, slots=True)
class TopicSpec:
    """One topic as the broker should hold it.

    `cleanup_policy` is "delete" for every topic of ours: each is a log of events, not a
    changelog whose latest record per key is all that matters ("compact" would drop an order's
    earlier events). `retention_bytes` None leaves the broker's default (no size limit).
    """

    name: str
    partitions: int = DEFAULT_PARTITIONS
    retention_ms: int = DOMAIN_RETENTION_MS
    cleanup_policy: CleanupPolicy = "delete"
    retention_bytes: int | None = None

    def configs(self) -> dict[str, str]:
        """The topic-level configs, as Kafka names and writes them."""
        declared = {
            "cleanup.policy": self.cleanup_policy,
            "retention.ms": str(self.retention_ms),
        }
        if self.retention_bytes is not None:
            declared["retention.bytes"] = str(self.retention_bytes)
        return declared


def dead_letter_topic(topic: str) -> str:
    return f"{topic}.dlq"


def dead_letter_spec(spec: TopicSpec) -> TopicSpec:
    """A topic's DLQ: as many partitions (a record keeps its partition by key), kept longer."""
    return TopicSpec(
        dead_letter_topic(spec.name),
        partitions=spec.partitions,
        retention_ms=DEAD_LETTER_RETENTION_MS,
        cleanup_policy="delete",
    )


_EVENT_TOPICS = tuple(
    TopicSpec(
        name, retention_ms=VIEWS_RETENTION_MS if name == CATALOG_VIEWS else DOMAIN_RETENTION_MS
    )
    for name in ALL_TOPICS
)
# Every topic of the suite and its DLQ, in the order `ALL_TOPICS` names them.
TOPICS: tuple[TopicSpec, ...] = tuple(
    spec for topic in _EVENT_TOPICS for spec in (topic, dead_letter_spec(topic))
)
_BY_NAME = {spec.name: spec for spec in TOPICS}


def topic_spec(name: str) -> TopicSpec:
    """The declared spec of `name`; for a topic the suite does not declare (a test's own), the
    defaults: a domain topic, or a DLQ if its name says so."""
    if name in _BY_NAME:
        return _BY_NAME[name]
    if name.endswith(".dlq"):
        return dead_letter_spec(TopicSpec(name.removesuffix(".dlq")))
    return TopicSpec(name)


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
