"""Events as a test makes them: an envelope from a payload, the consumed record a
`ConsumerRunner` reads, and `send()` onto a running service's topic.

    envelope = envelope_of(OrderPlacedV1(...), correlation_id=order_id)
    outcome = await runner.handle(Record.of(envelope))
    await send(producer, OrderConfirmedV1(...), correlation_id=order_id)
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from chassis.producer import EventProducer, OutgoingRecord
from shared_events import Envelope, EventPayload, registry, to_kafka
from shared_events.topics import topic_for_type

# The payload fields that name an aggregate, in the order a subject is looked for.
SUBJECT_FIELDS = ("order_id", "product_id", "member_id", "sku")


def subject_of(payload: EventPayload) -> str:
    """The aggregate id a payload is about (the Kafka key its producer would use): its
    `order_id`, else `product_id`, `member_id` or `sku`."""
    for name in SUBJECT_FIELDS:
        value = getattr(payload, name, None)
        if value:
            return str(value)
    raise ValueError(f"{type(payload).__name__} names no aggregate; pass subject=")


def topic_of(payload: EventPayload) -> str:
    """The topic the payload's event type is published on (from the registry)."""
    return str(topic_for_type(payload.event_type))


def envelope_of(
    payload: EventPayload,
    *,
    subject: str | None = None,
    source: str | None = None,
    event_id: uuid.UUID | None = None,
    correlation_id: str | None = None,
) -> Envelope:
    """The envelope the producing service's outbox would write: the subject defaults to the
    payload's aggregate id (`subject_of`), the source to `/services/<producer>`."""
    return registry.envelope(
        payload,
        subject=subject or subject_of(payload),
        source=source,
        id=event_id or uuid.uuid4(),
        correlation_id=correlation_id,
    )


@dataclass
class Record:
    """A consumed Kafka record, as `ConsumerRunner` reads it (`chassis.consumer.IncomingRecord`)."""

    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    topic: str
    partition: int = 0
    offset: int = 0

    @classmethod
    def of(cls, envelope: Envelope, *, topic: str | None = None, offset: int = 0) -> Record:
        """The record the broker would hand a consumer of `topic` (by default the topic of the
        envelope's event type)."""
        kafka = to_kafka(envelope)
        if topic is None:
            topic = str(topic_for_type(envelope.type))
        return cls(kafka.key, kafka.value, kafka.headers, topic, offset=offset)


def record_of(
    payload: EventPayload, *, subject: str | None = None, source: str | None = None
) -> Record:
    """`Record.of(envelope_of(payload, ...))`: a fresh event as a consumed record."""
    return Record.of(envelope_of(payload, subject=subject, source=source))


class RecordingProducer(EventProducer):
    """A producer that keeps what it is asked to send instead of sending it, for tests with no
    broker: a handler that fails is dead-lettered here at once (an unstarted real producer
    would wait for a broker that never comes)."""

    def __init__(self) -> None:  # no Kafka client at all
        self.sent: list[OutgoingRecord] = []

    async def start(self) -> None:
        pass

    async def stop(self) -> None:
        pass

    async def send_batch(self, records: list[OutgoingRecord]) -> None:
        self.sent.extend(records)

    async def send_raw(
        self, topic: str, value: bytes | None, key: bytes | None, headers: list[tuple[str, bytes]]
    ) -> None:
        self.sent.append(OutgoingRecord(topic, key or b"", value or b"", list(headers)))

    async def ping(self) -> None:
        pass

    @property
    def dead_letters(self) -> list[OutgoingRecord]:
        """What was sent to a dead-letter topic (`<topic>.dlq`)."""
        return [record for record in self.sent if record.topic.endswith(".dlq")]


async def send(
    producer: EventProducer,
    payload: EventPayload,
    *,
    subject: str | None = None,
    source: str | None = None,
    event_id: uuid.UUID | None = None,
    correlation_id: str | None = None,
    topic: str | None = None,
) -> Envelope:
    """Publish an event to its topic the way the producing service's relay does (binary
    CloudEvents, keyed by the subject), for a running service to consume; returns it once the
    broker has acknowledged it."""
    envelope = envelope_of(
        payload,
        subject=subject,
        source=source,
        event_id=event_id,
        correlation_id=correlation_id,
    )
    kafka = to_kafka(envelope)
    await producer.send_batch(
        [OutgoingRecord(topic or topic_of(payload), kafka.key, kafka.value, list(kafka.headers))]
    )
    return envelope
