"""The suite's public event contract.

Importing this package registers every event model in `registry`.
"""

from shared_events import catalog, inventory, membership, notification, order, payment
from shared_events.envelope import (
    Envelope,
    EnvelopeError,
    KafkaRecord,
    from_kafka,
    schema_uri,
    to_kafka,
)
from shared_events.registry import EventPayload, EventRegistry, EventSpec, registry

__all__ = [
    "Envelope",
    "EnvelopeError",
    "EventPayload",
    "EventRegistry",
    "EventSpec",
    "KafkaRecord",
    "catalog",
    "from_kafka",
    "inventory",
    "membership",
    "notification",
    "order",
    "payment",
    "registry",
    "schema_uri",
    "to_kafka",
]
