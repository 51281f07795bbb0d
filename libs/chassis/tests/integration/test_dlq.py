"""`python -m chassis.dlq` against the real broker and PostgreSQL: a handler that fails until it
is fixed, its record dead-lettered; list, show, a dry run, then a replay applied once however
often it is replayed."""

from __future__ import annotations

import asyncio
import io
import uuid
from collections.abc import Callable

import pytest
import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from prometheus_client import REGISTRY

from chassis import dlq
from chassis.broker import ConsumerGroup
from chassis.consumer import ConsumerRunner, Delivery, EventConsumer
from chassis.db import Database
from chassis.metrics import refresh_on_scrape
from chassis.producer import EventProducer, ensure_topics
from chassis.settings import ServiceSettings
from chassis.testing.kafka import read_records, subscribed
from shared_events import Envelope, registry, schema_uri, to_kafka
from shared_events.catalog import ProductUnpublishedV1
from shared_events.money import Money
from shared_events.order import PaymentRequestedV1

from .conftest import effects, handler_outcomes

pytestmark = pytest.mark.integration


def unpublished(product_id: str) -> Envelope:
    return Envelope(
        source="/services/test",
        type="catalog.product.unpublished",
        subject=product_id,
        dataschema=schema_uri("catalog.product.unpublished", 1),
        dataversion=1,
        data={"product_id": product_id, "version": 1},
    )


async def command(*argv: str) -> str:
    out = io.StringIO()
    assert await dlq.run(list(argv), out=out) == 0
    return out.getvalue()


async def end_offsets(bootstrap: str, topic: str) -> int:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic) or ()]
        return sum((await consumer.end_offsets(partitions)).values())
    finally:
        await consumer.stop()


async def until(check: Callable[[], bool], timeout: float = 20.0) -> None:
    for _ in range(int(timeout * 10)):
        if check():
            return
        await asyncio.sleep(0.1)
    raise AssertionError("timed out")


async def effect_rows(database: Database, product_id: str) -> list[str]:
    async with database.sessions() as session:
        rows = (
            await session.exec(  # type: ignore[call-overload]
                sa.select(effects.c.event_id).where(effects.c.subject == product_id)
            )
        ).all()
    return [r[0] for r in rows]


async def test_a_dead_letter_listed_shown_and_replayed_after_the_fix_applies_once(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    bootstrap = kafka_bootstrap_servers
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(bootstrap, [topic, f"{topic}.dlq"])
    broken = True  # the bug, until it is fixed
    tried: list[str] = []

    async def apply(delivery: Delivery, payload: ProductUnpublishedV1) -> None:
        tried.append(payload.product_id)
        if broken:
            raise ValueError("search index unreachable")
        await delivery.session.exec(  # type: ignore[call-overload]
            sa.insert(effects).values(
                event_id=str(delivery.envelope.id), subject=payload.product_id
            )
        )

    async def refuse(delivery: Delivery, payload: PaymentRequestedV1) -> None:
        raise ValueError("provider refused")

    consumer_name = f"dlq-cli-{uuid.uuid4().hex[:6]}"
    runner = ConsumerRunner(
        EventConsumer(
            consumer_name, topic, {ProductUnpublishedV1: apply, PaymentRequestedV1: refuse}
        ),
        database,
        producer,
        service="test",
        max_attempts=2,
        backoff_seconds=0.01,
    )
    settings = ServiceSettings(kafka_bootstrap_servers=bootstrap)
    broker, _ = subscribed(settings, runner, group_id=consumer_name)

    event = unpublished("p-broken")
    record = to_kafka(event)
    token = f"tok_{uuid.uuid4().hex}"
    payment = to_kafka(
        registry.envelope(
            PaymentRequestedV1(
                order_id="o-1",
                member_id="m-1",
                amount=Money(amount=100, currency="CNY"),
                payment_token=token,
            ),
            subject="o-1",
        )
    )
    await broker.start()
    try:
        await producer.send_raw(topic, record.value, record.key, record.headers)
        await producer.send_raw(topic, payment.value, payment.key, payment.headers)
        await read_records(bootstrap, f"{topic}.dlq", until=lambda kept: len(kept) >= 2)
        assert tried == ["p-broken", "p-broken"]  # its two attempts

        listed = await command("--bootstrap", bootstrap, "list", "--topic", topic)
        assert "catalog.product.unpublished" in listed and "p-broken" in listed
        assert consumer_name in listed and "ValueError: search index unreachable" in listed
        assert "2 dead letter(s)" in listed
        filtered = await command(
            "--bootstrap", bootstrap, "list", "--topic", topic, "--type", "order.payment.requested"
        )
        assert "p-broken" not in filtered and "1 dead letter(s)" in filtered

        letters = await dlq.read_dead_letters(bootstrap, topic)
        by_type = {d.event_type: d for d in letters}
        broken_at = by_type["catalog.product.unpublished"].address
        payment_at = by_type["order.payment.requested"].address
        shown = await command(
            "--bootstrap", bootstrap, "show", "--topic", topic, "--offset", payment_at
        )
        assert '"payment_token": "[REDACTED]"' in shown and token not in shown
        assert "dlq_error" in shown and "provider refused" in shown and "o-1" in shown

        before = await end_offsets(bootstrap, topic)
        dry = await command(
            "--bootstrap", bootstrap, "replay", "--topic", topic, "--all", "--dry-run"
        )
        assert "would replay 1 dead letter(s)" in dry and "nothing sent" in dry
        assert "payment_token redacted" in dry  # the redacted one is never replayed as is
        await asyncio.sleep(0.5)
        assert await end_offsets(bootstrap, topic) == before  # nothing sent
        assert tried == ["p-broken", "p-broken"]

        broken = False  # the fix is deployed
        replayed = await command(
            "--bootstrap", bootstrap, "replay", "--topic", topic, "--offset", broken_at
        )
        assert "replayed 1 dead letter(s)" in replayed
        await until(lambda: handler_outcomes(consumer_name).get("handled", 0) >= 1)
        assert await effect_rows(database, "p-broken") == [str(event.id)]

        # Replayed again (by mistake, or by a second engineer): the inbox skips it.
        await command("--bootstrap", bootstrap, "replay", "--topic", topic, "--type", event.type)
        await until(lambda: handler_outcomes(consumer_name).get("duplicate", 0) >= 1)
        assert await effect_rows(database, "p-broken") == [str(event.id)]
        assert tried == ["p-broken", "p-broken", "p-broken"]
    finally:
        await broker.stop()

    # The replay carried the original key and headers, and says what it replays.
    replays = await read_records(
        bootstrap,
        topic,
        match=lambda r: dict(r.headers).get("ce_id") == str(event.id).encode(),
        until=lambda kept: len(kept) >= 3,
    )
    first, again, *_ = replays[1:]
    assert first.key == record.key and first.value == record.value
    headers = dict(first.headers)
    assert headers["ce_replayof"] == f"{topic}.dlq/{broken_at.replace(':', '/')}".encode()
    assert "replayed-at" in headers and not any(name.startswith("dlq_") for name in headers)
    assert [h for h in first.headers if h[0].startswith("ce_") and h[0] != "ce_replayof"] == [
        h for h in record.headers if h[0].startswith("ce_")
    ]
    assert dict(again.headers)["ce_replayof"] == headers["ce_replayof"]


async def test_reading_a_dead_letter_topic_commits_no_offsets(kafka_bootstrap_servers: str) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"])
    out = await command("--bootstrap", kafka_bootstrap_servers, "list", "--topic", topic)
    assert f"{topic}.dlq: no dead letters" in out


def gauge(topic: str) -> float | None:
    return REGISTRY.get_sample_value("events_dead_letters", {"topic": topic})


async def test_the_depth_gauge_counts_the_records_a_dlq_holds(
    producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"])
    for n in range(3):
        await producer.send_raw(f"{topic}.dlq", b"{}", f"k{n}".encode(), [])
    depth = dlq.DeadLetterDepth(kafka_bootstrap_servers, [topic], key="test", every_seconds=30)
    depth.watch()
    try:
        await refresh_on_scrape(timeout=10)
        assert gauge(f"{topic}.dlq") == 3
        await producer.send_raw(f"{topic}.dlq", b"{}", b"k", [])
        await refresh_on_scrape(timeout=10)
        assert gauge(f"{topic}.dlq") == 3  # read at most once per 30 s
    finally:
        depth.unwatch()


async def test_a_service_consumer_group_watches_the_dlqs_of_its_topics(
    kafka_bootstrap_servers: str,
) -> None:
    topic = f"test-{uuid.uuid4().hex[:8]}.events"
    await ensure_topics(kafka_bootstrap_servers, [topic, f"{topic}.dlq"])
    settings = ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers)

    async def ignore(delivery: Delivery, payload: ProductUnpublishedV1) -> None:
        return None

    group = ConsumerGroup(settings, [])
    assert group.dead_letters.dead_letter_topics == []
    runner = ConsumerRunner(
        EventConsumer("gauge", topic, {ProductUnpublishedV1: ignore}),
        None,  # type: ignore[arg-type]
        None,  # type: ignore[arg-type]
        service="test",
    )
    group = ConsumerGroup(settings, [runner])
    assert group.dead_letters.dead_letter_topics == [f"{topic}.dlq"]
    await group.start()
    try:
        await refresh_on_scrape(timeout=10)
        assert gauge(f"{topic}.dlq") == 0  # in /metrics while the group runs
    finally:
        await group.stop()
