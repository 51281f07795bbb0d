"""The lag panel's figures: each consumer group's lag as the real broker has it (end offset
minus committed offset), summed per topic; a broker that does not answer is a 503 problem."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from analytics_service.config import AnalyticsSettings
from chassis.testing.infra import free_port
from chassis.testing.tokens import TestTokenIssuer
from chassis.topics import apply_topics, specs_for

from .conftest import Analytics, analytics_on

pytestmark = pytest.mark.integration


def settings_for(
    bootstrap: str, tmp_path: Path, token_issuer: TestTokenIssuer
) -> AnalyticsSettings:
    return AnalyticsSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 'analytics.db'}",
        jwks_url=token_issuer.jwks_url,  # type: ignore[attr-defined]
        environment="test",
        kafka_bootstrap_servers=bootstrap,
    )


@pytest.fixture
async def analytics(
    isolated_kafka: str, tmp_path: Path, token_issuer: TestTokenIssuer
) -> AsyncIterator[Analytics]:
    async with analytics_on(
        settings_for(isolated_kafka, tmp_path, token_issuer), token_issuer
    ) as a:
        yield a


async def commit(bootstrap: str, group: str, offsets: dict[TopicPartition, int]) -> None:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=group)
    await consumer.start()
    try:
        consumer.assign(list(offsets))
        await consumer.commit({tp: OffsetAndMetadata(o, "") for tp, o in offsets.items()})
    finally:
        await consumer.stop()


async def test_each_group_with_its_records_behind_per_topic(
    analytics: Analytics, isolated_kafka: str
) -> None:
    await apply_topics(isolated_kafka, specs_for(["order.events", "payment.events"]))
    producer = AIOKafkaProducer(bootstrap_servers=isolated_kafka)
    await producer.start()
    try:
        for _ in range(5):
            await producer.send_and_wait("order.events", b"{}", key=b"o-1", partition=0)
        for _ in range(2):
            await producer.send_and_wait("payment.events", b"{}", key=b"p-1", partition=3)
    finally:
        await producer.stop()
    # inventory has handled 2 of order.events' 5; payment all of them; analytics none of
    # payment.events' 2 (committed at 0).
    await commit(isolated_kafka, "inventory", {TopicPartition("order.events", 0): 2})
    await commit(isolated_kafka, "payment", {TopicPartition("order.events", 0): 5})
    await commit(isolated_kafka, "analytics", {TopicPartition("payment.events", 3): 0})

    report = await analytics.json("/consumer-lag")

    groups = {g["group"]: g for g in report["groups"]}
    assert list(groups) == ["analytics", "inventory", "payment"]
    assert groups["inventory"]["lag"] == 3
    assert groups["inventory"]["topics"] == [{"topic": "order.events", "lag": 3}]
    assert (groups["inventory"]["partitions"], groups["inventory"]["partitions_behind"]) == (1, 1)
    assert groups["payment"]["lag"] == 0 and groups["payment"]["partitions_behind"] == 0
    assert groups["analytics"]["topics"] == [{"topic": "payment.events", "lag": 2}]
    assert report["read_at"]
    customer = await analytics.http.get(
        "/api/v1/admin/analytics/consumer-lag", headers=analytics.customer
    )
    assert customer.status_code == 403


async def test_a_broker_that_does_not_answer_is_a_503_problem(
    tmp_path: Path, token_issuer: TestTokenIssuer
) -> None:
    nobody = f"127.0.0.1:{free_port()}"
    async with analytics_on(settings_for(nobody, tmp_path, token_issuer), token_issuer) as a:
        answer = await a.get("/consumer-lag")
    assert answer.status_code == 503
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("broker-unavailable")
