"""Faults: every saga event delivered twice, and a consumer killed between its database
commit and its offset commit."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from chassis.db import Database
from chassis.producer import EventProducer
from chassis.testing.infra import free_port
from chassis.testing.kafka import read_keyed
from chassis.testing.tokens import TestTokenIssuer
from shared_events.topics import INVENTORY_EVENTS, ORDER_EVENTS, PAYMENT_EVENTS

from .conftest import Suite, start_suite

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


async def counts(suite: Suite, order_id: str, sku: str) -> dict[str, Any]:
    return {
        "movements": await suite.scalar(
            "inventory",
            "SELECT count(*) FROM stock_movements WHERE order_id = :o",
            o=order_id,
        ),
        "reservations": await suite.scalar(
            "inventory", "SELECT count(*) FROM reservations WHERE order_id = :o", o=order_id
        ),
        "ledger": await suite.scalar(
            "payment",
            "SELECT count(*) FROM payment_ledger l JOIN payment_intents i ON l.intent_id = i.id "
            "WHERE i.order_id = :o",
            o=order_id,
        ),
        "captures": await suite.scalar(
            "payment",
            "SELECT count(*) FROM payment_ledger l JOIN payment_intents i ON l.intent_id = i.id "
            "WHERE i.order_id = :o AND l.kind = 'CAPTURE'",
            o=order_id,
        ),
        "timeline": len((await suite.order(order_id))["timeline"]),
        "on_hand": (await suite.stock(sku))["on_hand"],
    }


async def duplicates_seen(suite: Suite) -> float:
    total = 0.0
    for http in suite.http.values():
        for line in (await http.get("/metrics")).text.splitlines():
            if (
                line.startswith("event_handler_duration_seconds_count")
                and 'outcome="duplicate"' in line
            ):
                total += float(line.rsplit(" ", 1)[1])
    return total


async def test_every_event_delivered_twice_changes_nothing(suite: Suite) -> None:
    sku = await suite.product(price=1200, stock=6)
    order_id = (await suite.place(sku, quantity=2, member=suite.member())).json()["order_id"]
    await suite.settled(order_id, "payment.payment.captured", "inventory.stock.committed")
    before = await counts(suite, order_id, sku)
    assert before["captures"] == 1 and before["reservations"] == 1

    records = []
    for topic in (ORDER_EVENTS, INVENTORY_EVENTS, PAYMENT_EVENTS):
        records += await read_keyed(suite.bootstrap, topic, order_id, 1, timeout=5)
        records += await read_keyed(suite.bootstrap, topic, order_id, 99, timeout=1)
    unique = {(r.topic, r.offset): r for r in records}.values()
    assert len(unique) >= 7
    seen = await duplicates_seen(suite)
    producer = EventProducer(suite.bootstrap)
    await producer.start()
    try:
        for record in unique:  # the same events again, same ids, same order
            await producer.send_raw(record.topic, record.value, record.key, list(record.headers))
    finally:
        await producer.stop()
    # Wait until the consumers have seen the copies (each one is counted as a duplicate).
    for _ in range(100):
        if await duplicates_seen(suite) - seen >= len(unique):
            break
        await asyncio.sleep(0.1)
    assert await duplicates_seen(suite) - seen >= len(unique)
    assert await counts(suite, order_id, sku) == before
    assert await suite.effects(order_id) == ("CONFIRMED", "COMMITTED", "CAPTURED")
    await suite.check_invariants()


@asynccontextmanager
async def inventory_process(
    settings: Any, port: int, **extra_env: str
) -> AsyncIterator[tuple[subprocess.Popen[bytes], str]]:
    """The inventory service as its own OS process (so it can be SIGKILLed)."""
    env = {
        **os.environ,
        "INVENTORY_DATABASE_URL": settings.database_url,
        "INVENTORY_PORT": str(port),
        "INVENTORY_OUTBOX_POLL_SECONDS": "0.05",
        "INVENTORY_REDIS_KEY_PREFIX": settings.redis_key_prefix,
        "KAFKA_BOOTSTRAP_SERVERS": settings.kafka_bootstrap_servers,
        "REDIS_URL": settings.redis_url,
        "JWKS_URL": settings.jwks_url,
        "ENVIRONMENT": "test",
        "LOG_LEVEL": "WARNING",
        **extra_env,
    }
    process = subprocess.Popen(  # noqa: ASYNC220  (start-up only; the test waits on HTTP)
        [sys.executable, "-m", "inventory_service", "serve"], cwd=REPO, env=env
    )
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=5) as http:
            for _ in range(300):
                try:
                    if (await http.get("/readyz")).status_code == 200:
                        break
                except httpx.TransportError:
                    pass
                assert process.poll() is None, "inventory exited during start-up"
                await asyncio.sleep(0.1)
        yield process, url
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=15)


async def test_consumer_killed_after_commit_applies_nothing_twice(
    suite_settings: dict[str, Any], token_issuer: TestTokenIssuer
) -> None:
    inventory_settings = suite_settings["inventory"]
    # Two process start-ups and a group rebalance sit inside this saga; on a busy machine they
    # can outlast the suite's short test timeout, which would cancel the order instead.
    order_settings = suite_settings["order"].model_copy(update={"saga_timeout_seconds": 120})
    port = free_port()
    async with AsyncExitStack() as stack:
        suite = await start_suite(
            stack,
            {**suite_settings, "order": order_settings},
            token_issuer,
            only=("catalog", "payment", "order"),
        )
        database = Database(inventory_settings.database_url)
        stack.push_async_callback(database.dispose)
        suite.outside["inventory"] = database

        # First life: dies (SIGKILL) right after committing the reservation of the order.
        async with inventory_process(
            inventory_settings, port, INVENTORY_FAULT_KILL_AFTER_COMMIT="order.order.placed"
        ) as (process, url):
            suite.http["inventory"] = await stack.enter_async_context(
                httpx.AsyncClient(base_url=url, timeout=10)
            )
            sku = await suite.product(price=700, stock=3)
            order_id = (await suite.place(sku, quantity=2, member=suite.member())).json()[
                "order_id"
            ]
            for _ in range(300):
                if process.poll() is not None:
                    break
                await asyncio.sleep(0.1)
            assert process.returncode == -signal.SIGKILL
        status = await suite.scalar(
            "inventory", "SELECT status FROM reservations WHERE order_id = :o", o=order_id
        )
        assert status == "RESERVED"  # the effect committed; the offset did not

        # Second life: the placed event comes again; the inbox knows it; the saga finishes.
        async with inventory_process(inventory_settings, port):
            order = await suite.settled(
                order_id, "payment.payment.captured", "inventory.stock.committed", timeout=60
            )
            assert order["status"] == "CONFIRMED"
            reserve_moves = await suite.scalar(
                "inventory",
                "SELECT count(*) FROM stock_movements WHERE order_id = :o AND kind = 'RESERVE'",
                o=order_id,
            )
            assert reserve_moves == 1
            stock = await suite.stock(sku)
            assert (stock["on_hand"], stock["reserved"]) == (1, 0)
            await suite.check_invariants()
