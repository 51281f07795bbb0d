"""Outbox relay throughput against the raw producer, on PostgreSQL and the embedded broker.

    make bench            # or: uv run python -m bench.relay_throughput --events 20000

Prints events/s for: the raw producer (baseline: batches of 200, no database), the relay
with batches of 200 (the default), and the relay row by row (batch of 1), plus each ratio to
the baseline measured in the same run. Writes the figures to bench/results/relay.json.
It measures; it does not pass or fail.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from pathlib import Path

from sqlmodel import select

from bench.databases import drop_database, fresh_database
from chassis.db import Database
from chassis.outbox import Outbox, OutboxRecord, OutboxRelay, outgoing
from chassis.producer import EventProducer, ensure_topics
from chassis.testing import infra
from shared_events.catalog import ProductUnpublishedV1
from shared_events.topics import CATALOG_EVENTS

RESULTS = Path(__file__).parent / "results" / "relay.json"


async def stage(db: Database, outbox: Outbox, count: int) -> None:
    chunk = 500
    for start in range(0, count, chunk):
        async with db.transaction() as session:
            for i in range(start, min(start + chunk, count)):
                product = f"p-{i % 1000}"
                outbox.stage(
                    session, ProductUnpublishedV1(product_id=product, version=i), subject=product
                )


async def drain(relay: OutboxRelay) -> float:
    started = time.perf_counter()
    while await relay.relay_batch():
        pass
    return time.perf_counter() - started


async def baseline(producer: EventProducer, db: Database, count: int) -> float:
    """The same records, sent straight from memory: what the broker alone allows."""
    async with db.sessions() as session:
        rows = (await session.exec(select(OutboxRecord).limit(count))).all()
    events = [outgoing(r.topic, r.subject, r.headers, r.data) for r in rows]
    started = time.perf_counter()
    for i in range(0, len(events), 200):
        await producer.send_batch(events[i : i + 200])
    return time.perf_counter() - started


async def run(count: int, row_by_row: int) -> dict[str, float]:
    with infra.kafka_bootstrap() as bootstrap, infra.postgres_admin_url() as admin_url:
        await ensure_topics(bootstrap, [CATALOG_EVENTS])
        name, url = await fresh_database(admin_url)
        db = Database(url)
        async with db.engine.begin() as conn:
            await conn.run_sync(
                lambda c: OutboxRecord.metadata.create_all(c, tables=[OutboxRecord.__table__])  # type: ignore[list-item]
            )
        producer = EventProducer(bootstrap)
        await producer.start()
        outbox = Outbox("/services/bench")
        try:
            print(f"staging {count} events in PostgreSQL ...", flush=True)
            t0 = time.perf_counter()
            await stage(db, outbox, count)
            staged = time.perf_counter() - t0
            print(f"baseline: raw producer, {count} events ...", flush=True)
            raw = await baseline(producer, db, count)
            print("relay, batches of 200 ...", flush=True)
            batched = await drain(OutboxRelay(db, outbox, producer, service="bench"))
            print(f"relay, row by row ({row_by_row} events) ...", flush=True)
            await stage(db, outbox, row_by_row)
            single = await drain(OutboxRelay(db, outbox, producer, service="bench", batch_size=1))
        finally:
            await producer.stop()
            await db.dispose()
            await drop_database(admin_url, name)
    figures = {
        "events": count,
        "stage_events_per_s": count / staged,
        "baseline_producer_events_per_s": count / raw,
        "relay_batched_events_per_s": count / batched,
        "relay_row_by_row_events_per_s": row_by_row / single,
    }
    figures["relay_batched_vs_baseline"] = (
        figures["relay_batched_events_per_s"] / figures["baseline_producer_events_per_s"]
    )
    figures["relay_batched_vs_row_by_row"] = (
        figures["relay_batched_events_per_s"] / figures["relay_row_by_row_events_per_s"]
    )
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000)
    parser.add_argument("--row-by-row", type=int, default=2_000)
    args = parser.parse_args()
    figures = asyncio.run(run(args.events, args.row_by_row))
    width = max(map(len, figures))
    for key, value in figures.items():
        print(f"{key:<{width}}  {value:>12,.2f}")
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(figures, indent=2) + "\n")
    print(f"written to {RESULTS}")


if __name__ == "__main__":
    main()
