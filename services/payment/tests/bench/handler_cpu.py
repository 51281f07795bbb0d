"""CPU time per handled order event in the payment service, on PostgreSQL.

Runs N events of each kind through the chassis runner (`ConsumerRunner.handle_batch`, a poll of
`--batch` records in one transaction), without a broker, and prints
the process CPU time (this process only: Python, SQLAlchemy, asyncpg; not the server's) per
event. Prints figures; asserts nothing.

    uv run --frozen python services/payment/tests/bench/handler_cpu.py [-n 500] [--batch 50]
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import asyncpg

from chassis.consumer import ConsumerRunner, EventConsumer, Handler
from chassis.db import Database
from chassis.logging import configure_logging
from chassis.migrations import upgrade_async
from chassis.outbox import Outbox
from payment_service.config import MIGRATIONS_DIR
from payment_service.consumers import order_events_consumer
from payment_service.domain import RiskLimits
from payment_service.providers import SandboxProvider
from payment_service.service import Payments
from shared_events import EventPayload, registry, to_kafka
from shared_events.money import Money
from shared_events.order import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderRejectedV1,
    PaymentRequestedV1,
)
from shared_events.topics import ORDER_EVENTS

ADMIN = "postgresql://postgres@127.0.0.1:5432/postgres"


@dataclass
class Record:
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes]]
    topic: str = ORDER_EVENTS
    partition: int = 0
    offset: int = 0


def record(payload: EventPayload, order_id: str) -> Record:
    envelope = registry.envelope(payload, subject=order_id, source="/services/order")
    kafka = to_kafka(envelope)
    return Record(kafka.key, kafka.value, kafka.headers)


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
    configure_logging("payment", level="WARNING")  # the handlers' own cost, not log lines
    name = f"bench_payment_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(ADMIN)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = f"postgresql+asyncpg://postgres@127.0.0.1:5432/{name}"
    database = Database(url)
    try:
        await upgrade_async(MIGRATIONS_DIR, url)
        payments = Payments(
            provider=SandboxProvider(),
            limits=RiskLimits(
                max_amount_cny=5_000_000, velocity_max=10, velocity_window_seconds=3600
            ),
        )
        runner = ConsumerRunner(
            timed(order_events_consumer(payments)),
            database,
            producer=None,  # type: ignore[arg-type]  # only the dead-letter path uses it
            service="payment",
            outbox=Outbox("/services/payment"),
        )
        orders = [f"bench-{uuid.uuid4()}" for _ in range(3 * n)]
        money = Money(amount=12_800, currency="CNY")

        def requested(order_id: str) -> Record:
            member = f"m-{order_id}"
            token = "tok_visa"
            return record(
                PaymentRequestedV1(
                    order_id=order_id, member_id=member, amount=money, payment_token=token
                ),
                order_id,
            )

        captured, voided, refunded = orders[:n], orders[n : 2 * n], orders[:n]
        phases = [
            ("authorize (requested)", [requested(o) for o in orders]),
            (
                "capture (confirmed)",
                [
                    record(OrderConfirmedV1(order_id=o, member_id="m", total=money), o)
                    for o in captured
                ],
            ),
            (
                "void (rejected)",
                [record(OrderRejectedV1(order_id=o, member_id="m", reason="X"), o) for o in voided],
            ),
            (
                "refund (cancelled)",
                [
                    record(
                        OrderCancelledV1(order_id=o, member_id="m", reason="R", was_confirmed=True),
                        o,
                    )
                    for o in refunded
                ],
            ),
        ]
        print(f"payment handlers on PostgreSQL, polls of {batch} records")
        for label, records in phases:
            print(await run(runner, label, records, batch))
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
