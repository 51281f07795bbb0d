"""The beacon's queue: batched sends per tick or per N facts, drops counted (queue full, send
failed, shutdown), emit() never blocks or raises, stop() flushes within its bound; a disabled
beacon (`<PREFIX>BEACON_ENABLED=false`) queues nothing and starts no task."""

from __future__ import annotations

import asyncio
import time
import uuid
from datetime import UTC, datetime

import pytest
from prometheus_client import REGISTRY
from pydantic_settings import SettingsConfigDict

from chassis.beacon import Beacon, beacon_for
from chassis.producer import OutgoingRecord
from chassis.settings import ServiceSettings
from shared_events import from_kafka
from shared_events.catalog import ProductViewedV1


def view(n: int = 0, member: str | None = None) -> ProductViewedV1:
    return ProductViewedV1(
        product_id=f"p-{n}", skus=[f"sku-{n}"], member_id=member, viewed_at=datetime.now(UTC)
    )


def dropped(service: str, reason: str) -> float:
    value = REGISTRY.get_sample_value(
        "beacon_facts_dropped_total", {"service": service, "reason": reason}
    )
    return value or 0.0


def sent(service: str) -> float:
    return REGISTRY.get_sample_value("beacon_facts_sent_total", {"service": service}) or 0.0


def service_name() -> str:
    return f"beacon-{uuid.uuid4().hex[:6]}"


class Recording:
    """Acknowledges every batch and keeps it."""

    def __init__(self) -> None:
        self.batches: list[list[OutgoingRecord]] = []

    async def send_batch(self, records: list[OutgoingRecord]) -> None:
        self.batches.append(records)


class Down:
    """A broker that does not answer: every send hangs until cancelled."""

    def __init__(self) -> None:
        self.calls = 0

    async def send_batch(self, records: list[OutgoingRecord]) -> None:
        self.calls += 1
        await asyncio.Event().wait()


class Failing:
    async def send_batch(self, records: list[OutgoingRecord]) -> None:
        raise ConnectionError("broker unreachable")


async def test_a_tick_sends_what_is_queued_as_one_batch_of_envelopes() -> None:
    producer, service = Recording(), service_name()
    beacon = Beacon(producer, service=service, flush_seconds=0.05)
    beacon.start()
    try:
        beacon.emit(view(1, member="m-1"), subject="p-1")
        beacon.emit(view(2), subject="p-2")
        for _ in range(100):
            if producer.batches:
                break
            await asyncio.sleep(0.01)
    finally:
        await beacon.stop()
    assert [len(batch) for batch in producer.batches] == [2]
    first = producer.batches[0][0]
    assert first.topic == "catalog.views" and first.key == b"p-1"
    envelope = from_kafka(first.value, first.headers)
    assert envelope.type == "catalog.product.viewed" and envelope.source == f"/services/{service}"
    assert envelope.data["member_id"] == "m-1" and envelope.data["skus"] == ["sku-1"]
    assert sent(service) == 2


async def test_a_full_batch_is_sent_before_the_tick() -> None:
    producer = Recording()
    beacon = Beacon(producer, service=service_name(), batch_size=3, flush_seconds=60)
    beacon.start()
    try:
        for n in range(7):
            beacon.emit(view(n), subject=f"p-{n}")
        for _ in range(100):
            if producer.batches:
                break
            await asyncio.sleep(0.01)
        # Woken by the third fact; the queue is sent in batches of at most 3.
        assert producer.batches and all(len(b) <= 3 for b in producer.batches)
    finally:
        await beacon.stop()
    assert sum(len(b) for b in producer.batches) == 7


async def test_a_full_queue_drops_and_counts_without_blocking() -> None:
    service = service_name()
    beacon = Beacon(Recording(), service=service, queue_size=5, flush_seconds=60)
    # Not started: nothing drains the queue.
    started = time.perf_counter()
    for n in range(8):
        beacon.emit(view(n), subject=f"p-{n}")
    assert time.perf_counter() - started < 0.05
    assert beacon.queued == 5
    assert dropped(service, "queue-full") == 3


async def test_a_broker_that_is_down_costs_the_batch_not_the_caller() -> None:
    service, producer = service_name(), Down()
    beacon = Beacon(
        producer, service=service, batch_size=2, flush_seconds=0.02, send_timeout_seconds=0.1
    )
    beacon.start()
    try:
        beacon.emit(view(1), subject="p-1")
        beacon.emit(view(2), subject="p-2")
        for _ in range(100):
            if dropped(service, "send-failed") == 2:
                break
            await asyncio.sleep(0.02)
        assert dropped(service, "send-failed") == 2
        started = time.perf_counter()
        beacon.emit(view(3), subject="p-3")  # while the broker is still down
        assert time.perf_counter() - started < 0.01
    finally:
        await beacon.stop(timeout=0.5)
    assert sent(service) == 0


async def test_a_send_error_is_counted_and_never_retried() -> None:
    service = service_name()
    beacon = Beacon(Failing(), service=service, flush_seconds=0.02)
    beacon.start()
    try:
        beacon.emit(view(1), subject="p-1")
        for _ in range(100):
            if dropped(service, "send-failed"):
                break
            await asyncio.sleep(0.01)
    finally:
        await beacon.stop()
    assert dropped(service, "send-failed") == 1 and beacon.queued == 0


async def test_stop_flushes_the_queue_then_drops_what_comes_after() -> None:
    producer, service = Recording(), service_name()
    beacon = Beacon(producer, service=service, flush_seconds=60)
    beacon.start()
    for n in range(4):
        beacon.emit(view(n), subject=f"p-{n}")
    await beacon.stop()
    assert sum(len(b) for b in producer.batches) == 4
    beacon.emit(view(9), subject="p-9")
    assert beacon.queued == 0 and dropped(service, "shutdown") == 1


async def test_stop_is_bounded_when_the_broker_hangs() -> None:
    service = service_name()
    beacon = Beacon(Down(), service=service, flush_seconds=60, send_timeout_seconds=30)
    beacon.start()
    for n in range(3):
        beacon.emit(view(n), subject=f"p-{n}")
    started = time.perf_counter()
    await beacon.stop(timeout=0.2)
    assert time.perf_counter() - started < 1.0
    assert dropped(service, "shutdown") == 3 and beacon.queued == 0


class ShopSettings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="BEACONSHOP_", extra="ignore")


async def test_a_beacon_disabled_in_its_settings_queues_nothing_and_starts_no_task(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("BEACONSHOP_BEACON_ENABLED", "false")
    monkeypatch.setenv("BEACONSHOP_SERVICE_NAME", service := service_name())
    producer = Recording()
    beacon = beacon_for(ShopSettings(), producer)
    assert not beacon.enabled
    before = asyncio.all_tasks()
    beacon.start()
    assert asyncio.all_tasks() == before
    for n in range(3):
        beacon.emit(view(n), subject=f"p-{n}")
    assert beacon.queued == 0
    await beacon.stop()
    assert producer.batches == []
    assert sent(service) == 0
    assert all(dropped(service, r) == 0 for r in ("queue-full", "send-failed", "shutdown"))


def test_the_beacon_is_enabled_by_default() -> None:
    assert ShopSettings().beacon_enabled
    assert beacon_for(ShopSettings(), Recording()).enabled
