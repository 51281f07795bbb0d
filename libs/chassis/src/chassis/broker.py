"""The FastStream Kafka broker, with subscribers that acknowledge only after commit."""

from __future__ import annotations

from typing import Any

from faststream import AckPolicy
from faststream.kafka import KafkaBroker
from faststream.kafka.annotations import KafkaMessage
from faststream.message import StreamMessage

from chassis.consumer import ConsumerRunner
from chassis.settings import ServiceSettings


def make_broker(settings: ServiceSettings) -> KafkaBroker:
    return KafkaBroker(
        settings.kafka_bootstrap_servers,
        client_id=settings.service_name,
        enable_idempotence=settings.kafka_idempotent_producer,
        apply_types=True,
        log_level=30,
    )


async def _keep_raw(message: StreamMessage[Any]) -> bytes:
    """The envelope parser reads the raw record; skip FastStream's JSON decoding."""
    return message.body


def subscribe(broker: KafkaBroker, runner: ConsumerRunner) -> None:
    """Attach a runner as a subscriber.

    NACK_ON_ERROR turns aiokafka's auto-commit off; FastStream commits the offset after the
    handler returns, which happens only after the transaction committed or the record was
    dead-lettered. If `runner.handle` raises (the DLQ itself was unreachable), the record
    is sought back and delivered again.
    """

    @broker.subscriber(
        runner.consumer.topic,
        group_id=runner.consumer.name,
        auto_offset_reset="earliest",
        ack_policy=AckPolicy.NACK_ON_ERROR,
        decoder=_keep_raw,
    )
    async def on_record(body: bytes, message: KafkaMessage) -> None:
        await runner.handle(message.raw_message)  # type: ignore[arg-type]
