"""chassis.testing's helpers for services' tests: events as records, `send()` onto a
broker, and the `Harness` that drives consumers on a real database without one."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
import sqlalchemy as sa
from fastapi import FastAPI, Request

from chassis.consumer import Delivery, EventConsumer
from chassis.inbox import InboxRecord
from chassis.outbox import OutboxRecord
from chassis.producer import EventProducer, ensure_topics
from chassis.runtime import Runtime
from chassis.settings import ServiceSettings
from chassis.testing.event_tables import is_handled, staged_types, wait_handled
from chassis.testing.events import Record, envelope_of, record_of, send, subject_of
from chassis.testing.harness import Harness, offline_runtime
from chassis.testing.kafka import header, read_envelopes, read_keyed
from chassis.testing.service import (
    RunningService,
    ServersUnderTest,
    serve_with_client,
    settings_under_test,
    started_producer,
)
from chassis.testing.tokens import TestTokenIssuer, bearer
from shared_events import from_kafka
from shared_events.catalog import PriceChangedV1, ProductPublishedV1, ProductUnpublishedV1
from shared_events.money import Money
from shared_events.order import OrderConfirmedV1
from shared_events.topics import CATALOG_EVENTS, ORDER_EVENTS

pytestmark = pytest.mark.integration

CNY = Money(amount=100, currency="CNY")


def test_an_event_is_keyed_and_routed_by_its_payload() -> None:
    confirmed = OrderConfirmedV1(order_id="o-1", member_id="m-1", total=CNY)
    envelope = envelope_of(confirmed, correlation_id="o-1")
    assert (envelope.subject, envelope.source, envelope.correlationid) == (
        "o-1",
        "/services/order",
        "o-1",
    )
    record = Record.of(envelope)
    assert (record.topic, record.key, record.partition, record.offset) == (
        ORDER_EVENTS,
        b"o-1",
        0,
        0,
    )
    assert from_kafka(record.value, list(record.headers)) == envelope
    unpublished = record_of(ProductUnpublishedV1(product_id="p-1", version=2))
    assert (unpublished.topic, unpublished.key) == (CATALOG_EVENTS, b"p-1")
    assert subject_of(ProductPublishedV1(product_id="p-2", skus=[], version=1)) == "p-2"
    with pytest.raises(ValueError, match="subject="):
        subject_of(ProductPublishedV1.model_construct(skus=[], version=1))


async def test_send_publishes_as_a_relay_does(isolated_kafka: str) -> None:
    await ensure_topics(isolated_kafka, [ORDER_EVENTS])
    producer = EventProducer(isolated_kafka)
    await producer.start()
    try:
        order_id = f"o-{uuid.uuid4()}"
        confirmed = OrderConfirmedV1(order_id=order_id, member_id="m-1", total=CNY)
        sent = await send(producer, confirmed, correlation_id=order_id)
    finally:
        await producer.stop()
    [record] = await read_keyed(isolated_kafka, ORDER_EVENTS, order_id, 1)
    assert header(record, "ce_type") == "order.order.confirmed"
    assert header(record, "ce_correlationid") == order_id
    assert from_kafka(record.value, list(record.headers)) == sent
    envelopes = await read_envelopes(
        isolated_kafka, ORDER_EVENTS, key=order_id, until=lambda got: len(got) >= 1
    )
    assert envelopes == [sent]


async def test_a_started_producer_sends_until_its_block_ends(isolated_kafka: str) -> None:
    await ensure_topics(isolated_kafka, [ORDER_EVENTS])
    order_id = f"o-{uuid.uuid4()}"
    async with started_producer(isolated_kafka) as producer:
        sent = await send(producer, OrderConfirmedV1(order_id=order_id, member_id="m", total=CNY))
    got = await read_envelopes(isolated_kafka, ORDER_EVENTS, key=order_id, until=bool)
    assert got == [sent]


def test_settings_under_test_are_fast_and_keep_apart() -> None:
    values = {
        "database_url": "sqlite+aiosqlite://",
        "kafka_bootstrap_servers": "127.0.0.1:9",
        "redis_url": "redis://127.0.0.1:9/0",
        "jwks_url": "http://127.0.0.1:9/.well-known/jwks.json",
    }
    first = settings_under_test(ServiceSettings, **values, outbox_poll_seconds=1.0)
    second = settings_under_test(ServiceSettings, **values, redis_key_prefix="mine:")
    assert (first.environment, first.consumer_backoff_seconds) == ("test", 0.05)
    assert (first.outbox_poll_seconds, second.outbox_poll_seconds) == (1.0, 0.05)
    assert first.redis_key_prefix.startswith("test:") and second.redis_key_prefix == "mine:"
    assert first.database_url == "sqlite+aiosqlite://"


async def test_servers_under_test_make_settings_on_a_new_database_and_the_tests_servers(
    servers_under_test: ServersUnderTest,
    redis_url: str,
    redis_key_prefix: str,
    token_issuer: TestTokenIssuer,
) -> None:
    first = await servers_under_test.settings(
        ServiceSettings, "helpers", kafka_bootstrap_servers="127.0.0.1:9", outbox_poll_seconds=1.0
    )
    second = await servers_under_test.settings(
        ServiceSettings, "helpers", kafka_bootstrap_servers="127.0.0.1:9"
    )
    assert first.database_url.startswith("postgresql+asyncpg://")
    assert "_helpers_" in first.database_url and first.database_url != second.database_url
    assert (first.redis_url, first.redis_key_prefix) == (redis_url, redis_key_prefix)
    assert first.jwks_url == token_issuer.jwks_url  # type: ignore[attr-defined]
    assert first.kafka_bootstrap_servers == "127.0.0.1:9"
    assert (first.environment, first.outbox_poll_seconds, second.outbox_poll_seconds) == (
        "test",
        1.0,
        0.05,
    )


async def test_a_running_service_is_served_with_a_client() -> None:
    app = FastAPI()
    app.state.runtime = SimpleNamespace(database="the database")

    @app.get("/whoami")
    async def whoami(request: Request) -> dict[str, str | None]:
        return {"authorization": request.headers.get("authorization")}

    settings = ServiceSettings(kafka_bootstrap_servers="127.0.0.1:9")
    async with serve_with_client(app) as http:
        service: RunningService[ServiceSettings, Any] = RunningService(app, http, settings)
        response = await http.get("/whoami", headers=bearer("t0ken"))
        assert response.json() == {"authorization": "Bearer t0ken"}
        assert service.url.startswith("http://127.0.0.1:") and not service.url.endswith("/")
        assert (service.database, service.bootstrap) == ("the database", "127.0.0.1:9")


async def on_unpublished(
    delivery: Delivery[Runtime[ServiceSettings, str]], payload: ProductUnpublishedV1
) -> None:
    """Stages a price change under the product, tagged with the runtime's state; fails for
    version 0."""
    if payload.version == 0:
        raise RuntimeError("a bug")
    price = Money(amount=payload.version, currency="CNY")
    sku = f"{delivery.runtime.state}-{payload.product_id}"
    delivery.stage(
        PriceChangedV1(
            product_id=payload.product_id,
            sku=sku,
            old_price=price,
            new_price=price,
            version=payload.version,
        ),
        subject=payload.product_id,
    )


CONSUMERS = [
    EventConsumer("test-catalog", CATALOG_EVENTS, {ProductUnpublishedV1: on_unpublished}),
]


@pytest.fixture
async def harness(tmp_path: Path) -> AsyncIterator[Harness[Runtime[ServiceSettings, str]]]:
    settings = ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'harness.db'}")
    async with offline_runtime(settings, "state") as runtime:
        async with runtime.database.engine.begin() as connection:
            tables = [OutboxRecord.__table__, InboxRecord.__table__]
            await connection.run_sync(
                lambda c: OutboxRecord.metadata.create_all(c, tables=tables)  # type: ignore[arg-type]
            )
        yield Harness.of(runtime, CONSUMERS)


async def test_the_harness_runs_events_through_the_inbox_and_reads_the_outbox(
    harness: Harness[Runtime[ServiceSettings, str]],
) -> None:
    first = await harness.deliver(ProductUnpublishedV1(product_id="p-1", version=3))
    await harness.deliver(ProductUnpublishedV1(product_id="p-1", version=3), event_id=first.id)
    await harness.deliver(ProductUnpublishedV1(product_id="p-2", version=4))
    ignored = ProductPublishedV1(product_id="p-3", skus=[], version=1)  # no handler for it
    await harness.deliver(ignored)
    assert harness.outcomes == ["handled", "duplicate", "handled", "ignored"]
    published = await harness.published("p-1")
    assert published == [
        (
            "catalog.price.changed",
            {
                "product_id": "p-1",
                "sku": "state-p-1",
                "old_price": {"amount": 3, "currency": "CNY"},
                "new_price": {"amount": 3, "currency": "CNY"},
                "version": 3,
            },
        )
    ]
    assert [data["product_id"] for _, data in await harness.published()] == ["p-1", "p-2"]
    async with harness.database.sessions() as session:
        claimed = (await session.exec(sa.select(sa.func.count()).select_from(InboxRecord))).one()  # type: ignore[call-overload]
    assert claimed == (2,)
    with pytest.raises(LookupError, match=r"order\.events"):
        await harness.deliver(OrderConfirmedV1(order_id="o-1", member_id="m-1", total=CNY))
    assert harness.dead_letters == []


async def test_the_inbox_says_what_was_handled_and_the_outbox_what_was_staged(
    harness: Harness[Runtime[ServiceSettings, str]],
) -> None:
    unpublished = ProductUnpublishedV1(product_id="p-1", version=3)
    pending = envelope_of(unpublished)
    assert not await is_handled(harness.database, pending)
    with pytest.raises(AssertionError, match=r"was not handled in 0\.2s"):
        await wait_handled(harness.database, pending, timeout=0.2)
    delivered = await harness.deliver(unpublished, event_id=pending.id)
    assert await is_handled(harness.database, delivered)
    await wait_handled(harness.database, delivered, timeout=1.0)
    assert await staged_types(harness.database, "p-1") == ["catalog.price.changed"]
    assert await staged_types(harness.database, "p-2") == []


async def test_a_failing_handler_is_dead_lettered_at_once(
    harness: Harness[Runtime[ServiceSettings, str]],
) -> None:
    await harness.deliver(ProductUnpublishedV1(product_id="p-1", version=0))
    assert harness.outcomes == ["dead-lettered"]
    [dead] = harness.dead_letters
    assert (dead.topic, dead.key) == (f"{CATALOG_EVENTS}.dlq", b"p-1")
    assert await harness.published() == []
