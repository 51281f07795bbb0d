"""Retries, then the dead-letter topic; the partition keeps moving."""

from __future__ import annotations

import asyncio
import json
import uuid
from types import SimpleNamespace

import pytest
import sqlalchemy as sa

from chassis.consumer import ConsumerRunner, Delivery, EventConsumer
from chassis.db import Database
from chassis.producer import EventProducer, ensure_topics
from chassis.settings import ServiceSettings
from chassis.testing.kafka import header, read_records, subscribed
from shared_events import Envelope, registry, schema_uri, to_kafka
from shared_events.catalog import ProductUnpublishedV1
from shared_events.money import Money
from shared_events.order import PaymentRequestedV1

from .conftest import effects

pytestmark = pytest.mark.integration


def unpublished(product_id: str, key: str) -> Envelope:
    return Envelope(
        source="/services/test",
        type="catalog.product.unpublished",
        subject=key,
        dataschema=schema_uri("catalog.product.unpublished", 1),
        dataversion=1,
        data={"product_id": product_id, "version": 1},
    )


async def test_poison_and_failing_messages_go_to_the_dlq_and_the_next_one_is_handled(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"])
    attempts: list[str] = []

    async def apply(delivery: Delivery, payload: ProductUnpublishedV1) -> None:
        attempts.append(payload.product_id)
        if payload.product_id == "explodes":
            raise ValueError("this product cannot be handled")
        await delivery.session.exec(  # type: ignore[call-overload]
            sa.insert(effects).values(
                event_id=str(delivery.envelope.id), subject=payload.product_id
            )
        )

    key = b"same-key"  # one key: one partition, so order on it is what we check
    # Poison of a type the consumer handles (a type it does not handle is skipped unparsed).
    garbage_type = ProductUnpublishedV1.event_type.encode()
    await producer.send_raw(topic, b"\x00garbage", key, [("ce_type", garbage_type)])
    failing = to_kafka(unpublished("explodes", "same-key"))
    await producer.send_raw(topic, failing.value, key, failing.headers)
    good = unpublished("fine", "same-key")
    record = to_kafka(good)
    await producer.send_raw(topic, record.value, key, record.headers)

    runner = ConsumerRunner(
        EventConsumer("dlq-test", topic, {ProductUnpublishedV1: apply}),
        database,
        producer,
        service="test",
        max_attempts=3,
        backoff_seconds=0.05,
    )
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers)
    broker, _ = subscribed(settings, runner, group_id="dlq-test")
    await broker.start()
    try:
        dead = await read_records(
            kafka_bootstrap_servers, f"{topic}.dlq", until=lambda kept: len(kept) >= 2
        )
        for _ in range(100):
            if "fine" in attempts:
                break
            await asyncio.sleep(0.1)
    finally:
        await broker.stop()

    assert [r.value for r in dead] == [b"\x00garbage", failing.value]
    assert "missing CloudEvents attributes" in (header(dead[0], "dlq_error") or "")
    assert header(dead[0], "dlq_attempts") == "1"  # a poison message is not retried
    assert "this product cannot be handled" in (header(dead[1], "dlq_error") or "")
    assert header(dead[1], "dlq_attempts") == "3"
    assert header(dead[1], "ce_id") == dict(failing.headers)["ce_id"].decode()  # headers kept
    assert header(dead[1], "dlq_consumer") == "dlq-test"
    assert header(dead[1], "dlq_topic") == topic
    assert attempts == ["explodes"] * 3 + ["fine"]
    async with database.sessions() as session:
        rows = (
            await session.exec(  # type: ignore[call-overload]
                sa.select(effects.c.event_id).where(effects.c.subject == "fine")
            )
        ).all()
    assert [r[0] for r in rows] == [str(good.id)]


async def test_a_dead_lettered_payment_request_loses_its_card_token(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"])
    token = f"tok_{uuid.uuid4().hex}"

    async def refuse(delivery: Delivery, payload: PaymentRequestedV1) -> None:
        raise ValueError(f"provider refused {payload.payment_token}")

    payload = PaymentRequestedV1(
        order_id="o-1",
        member_id="m-1",
        amount=Money(amount=100, currency="CNY"),
        payment_token=token,
    )
    record = to_kafka(registry.envelope(payload, subject="o-1"))
    runner = ConsumerRunner(
        EventConsumer("dlq-secret", topic, {PaymentRequestedV1: refuse}),
        database,
        producer,
        service="test",
        max_attempts=2,
        backoff_seconds=0.01,
    )
    outcome = await runner.handle(
        SimpleNamespace(  # type: ignore[arg-type]
            topic=topic,
            partition=0,
            offset=0,
            key=record.key,
            value=record.value,
            headers=record.headers,
        )
    )
    assert outcome == "dead-lettered"
    (dead,) = await read_records(
        kafka_bootstrap_servers, f"{topic}.dlq", until=lambda kept: len(kept) >= 1
    )
    assert token.encode() not in dead.value
    assert json.loads(dead.value)["payment_token"] == "[REDACTED]"
    assert token not in (header(dead, "dlq_error") or "")
    assert "provider refused" in (header(dead, "dlq_error") or "")
