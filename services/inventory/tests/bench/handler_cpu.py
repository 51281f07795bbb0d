"""CPU time per handled event in the inventory service, on PostgreSQL.

Runs N events of each kind through the chassis runner (`ConsumerRunner.handle_batch`, a poll of
`--batch` records in one transaction), without a broker, and prints
the process CPU time (this process only: Python, SQLAlchemy, asyncpg; not the server's) per
event. Prints figures; asserts nothing.

    uv run --frozen python services/inventory/tests/bench/handler_cpu.py [-n 500] [--batch 50]
"""

from __future__ import annotations

import argparse
import asyncio
import random
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import asyncpg
import sqlalchemy as sa

from chassis.consumer import ConsumerRunner, EventConsumer, Handler
from chassis.db import Database
from chassis.logging import configure_logging
from chassis.migrations import upgrade_async
from chassis.outbox import Outbox
from inventory_service.config import MIGRATIONS_DIR, InventorySettings
from inventory_service.consumers import consumers
from inventory_service.tables import STOCK
from shared_events import EventPayload, registry, to_kafka
from shared_events.catalog import ProductCreatedV1, SkuSnapshot
from shared_events.money import Money
from shared_events.order import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderLine,
    OrderPlacedV1,
    OrderRejectedV1,
    OrderReturnedV1,
)
from shared_events.topics import CATALOG_EVENTS, ORDER_EVENTS

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Record:
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    topic: str = ORDER_EVENTS
    partition: int = 0
    offset: int = 0


def record(payload: EventPayload, subject: str, topic: str = ORDER_EVENTS) -> Record:
    envelope = registry.envelope(payload, subject=subject)
    kafka = to_kafka(envelope)
    return Record(kafka.key, kafka.value, kafka.headers, topic)


IN_HANDLERS = [0.0]  # CPU seconds spent inside the service's handlers


def timed(consumer: EventConsumer) -> EventConsumer:
    """The consumer with each handler wrapped to add its CPU time to IN_HANDLERS (one event
    at a time in this process, so the process CPU while it runs is the handler's)."""

    def wrap(fn: Handler) -> Handler:
        async def handler(delivery: Any, payload: Any) -> None:
            started = time.process_time()
            try:
                await fn(delivery, payload)
            finally:
                IN_HANDLERS[0] += time.process_time() - started

        return handler

    consumer._by_type = {k: (m, wrap(fn)) for k, (m, fn) in consumer._by_type.items()}
    return consumer


async def run(runner: ConsumerRunner, name: str, records: list[Record], batch: int) -> str:
    IN_HANDLERS[0] = 0.0
    cpu, wall = time.process_time(), time.perf_counter()
    for start in range(0, len(records), batch):
        await runner.handle_batch(records[start : start + batch])
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    n = len(records)
    return (
        f"{name:<24} n={n:<5} cpu/event: in handler {1000 * IN_HANDLERS[0] / n:6.3f} ms,"
        f" whole runner {1000 * cpu / n:6.3f} ms   (wall {1000 * wall / n:6.3f} ms)"
    )


async def main(n: int, batch: int) -> None:
    configure_logging("inventory", level="WARNING")  # the handlers' own cost, not log lines
    name = f"bench_inventory_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    database = Database(url)
    try:
        await upgrade_async(MIGRATIONS_DIR, url)
        settings = InventorySettings(database_url=url)
        outbox = Outbox("/services/inventory")
        catalog, orders = (
            ConsumerRunner(timed(c), database, producer=None, service="inventory", outbox=outbox)  # type: ignore[arg-type]
            for c in consumers(settings)
        )
        rng = random.Random(7)
        price = Money(amount=1_000, currency="CNY")
        products = [f"p-{uuid.uuid4().hex[:8]}" for _ in range(n)]
        created = [
            record(
                ProductCreatedV1(
                    product_id=p,
                    name=p,
                    category="bench",
                    skus=[SkuSnapshot(sku=f"{p}-{size}", price=price) for size in "SM"],
                    status="DRAFT",
                    version=1,
                ),
                p,
                CATALOG_EVENTS,
            )
            for p in products
        ]
        print(f"inventory handlers on PostgreSQL, polls of {batch} records")
        print(await run(catalog, "register (product created)", created, batch))
        skus = sorted(f"{p}-{size}" for p in products[:40] for size in "SM")
        async with database.transaction() as session:
            await session.exec(sa.update(STOCK).where(STOCK.c.sku.in_(skus)).values(on_hand=10**6))

        def placed(order_id: str) -> Record:
            picked = rng.sample(skus, rng.randint(1, 4))
            items = [
                OrderLine(
                    sku=s, product_id="p", name="n", quantity=2, unit_price=price, line_total=price
                )
                for s in picked
            ]
            return record(
                OrderPlacedV1(
                    order_id=order_id,
                    member_id="m",
                    currency="CNY",
                    items=items,
                    subtotal=price,
                    discount=Money(amount=0, currency="CNY"),
                    total=price,
                    placed_at=datetime.now(UTC),
                ),
                order_id,
            )

        ids = [f"bench-{uuid.uuid4()}" for _ in range(2 * n)]
        confirmed, rejected = ids[:n], ids[n:]
        print(await run(orders, "reserve (placed, 1-4 lines)", [placed(o) for o in ids], batch))
        phases = [
            (
                "commit (confirmed)",
                [
                    record(OrderConfirmedV1(order_id=o, member_id="m", total=price), o)
                    for o in confirmed
                ],
            ),
            (
                "release (rejected)",
                [
                    record(OrderRejectedV1(order_id=o, member_id="m", reason="X"), o)
                    for o in rejected
                ],
            ),
            (
                "restock (returned)",
                [
                    record(OrderReturnedV1(order_id=o, member_id="m", reason="R", total=price), o)
                    for o in confirmed
                ],
            ),
            (
                "cancel (nothing left)",
                [
                    record(
                        OrderCancelledV1(order_id=o, member_id="m", reason="R", was_confirmed=True),
                        o,
                    )
                    for o in rejected
                ],
            ),
        ]
        for label, records in phases:
            print(await run(orders, label, records, batch))
    finally:
        await database.dispose()
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        await admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("-n", type=int, default=500)
    parser.add_argument("--batch", type=int, default=50)
    args = parser.parse_args()
    asyncio.run(main(args.n, args.batch))
