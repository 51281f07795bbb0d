"""Rebuild the projection from the beginning of the topics (docs/kpis.md, "Rebuilding").

After a change of definition (a formula, `SHOP_TIME_ZONE`, the FX table) the facts already
stored keep the old one: the per-SKU days are stored in the reporting zone, amounts in CNY at
the rate of the day they arrived. A rebuild empties the projection and the analytics inbox in
the target database, then reads every topic analytics consumes from offset 0 (their whole
retained history) and applies each event through the same consumers and handlers as the
running service, batch by batch, until it has reached the end offsets it saw when it started.

It reads under a consumer group of its own (`analytics-rebuild-<time>`), never the service's
`analytics` group: the service's committed offsets are left as they are. When the service starts
again on the rebuilt store it resumes from them; what the rebuild already applied is in the
inbox, so it is skipped as a duplicate, and what came after is applied once.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.structs import OffsetAndMetadata
from sqlalchemy.engine import make_url

from analytics_service.config import MIGRATIONS_DIR, AnalyticsSettings
from analytics_service.handlers import CONSUMERS
from analytics_service.tables import MEMBERS, ORDER_LINES, ORDERS, PRODUCTS, PROJECTION, STOCK
from chassis.cache import create_redis
from chassis.consumer import ConsumerRunner, ServiceConsumer
from chassis.db import Database, is_sqlite
from chassis.inbox import INBOX
from chassis.migrations import upgrade_async
from chassis.producer import EventProducer
from chassis.runtime import assemble_runtime

PROGRESS_EVERY_SECONDS = 2.0
Report = Callable[[str], None]


@dataclass(frozen=True)
class Rebuilt:
    group: str
    events: int  # records read and applied (some of types analytics ignores)
    seconds: float
    rows: dict[str, int]  # the projection's tables afterwards


def rebuild_group(now: datetime | None = None) -> str:
    """A consumer group nobody has used: its offsets start nowhere, so reading starts at 0."""
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    return f"analytics-rebuild-{stamp}-{uuid.uuid4().hex[:6]}"


async def clear(database: Database) -> int:
    """Empty the projection and the analytics consumers' inbox, in one transaction: a rebuild
    that stops half-way leaves a store the next rebuild empties again."""
    names = [consumer.name for consumer in CONSUMERS]
    removed = 0
    async with database.engine.begin() as conn:
        for table in PROJECTION:
            removed += (await conn.execute(table.delete())).rowcount or 0
        removed += (await conn.execute(INBOX.delete().where(INBOX.c.consumer.in_(names)))).rowcount
    return removed


async def row_counts(database: Database) -> dict[str, int]:
    async with database.engine.connect() as conn:
        return {
            table.name: int(
                (await conn.execute(sa.select(sa.func.count()).select_from(table))).scalar_one()
            )
            for table in PROJECTION
        }


async def rebuild(
    settings: AnalyticsSettings, *, group: str | None = None, report: Report = print
) -> Rebuilt:
    """Rebuild the projection in `settings.database_url` (migrated first, so a new empty
    database will do) from offset 0 of every topic analytics reads."""
    started = time.monotonic()
    group = group or rebuild_group()
    shown = make_url(settings.database_url).render_as_string(hide_password=True)
    await upgrade_async(MIGRATIONS_DIR, settings.database_url)
    database = Database(settings.database_url)
    redis = create_redis(settings.redis_url)  # in the runtime's shape; no handler uses it
    producer = EventProducer(settings.kafka_bootstrap_servers)  # for dead letters only
    reader = AIOKafkaConsumer(
        bootstrap_servers=settings.kafka_bootstrap_servers,
        group_id=group,
        client_id=group,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
    )
    try:
        report(f"analytics rebuild: emptying the projection in {shown}")
        removed = await clear(database)
        report(f"  {removed} rows removed (projection and inbox)")
        await producer.start()
        runtime = assemble_runtime(settings, database, redis, producer, None)
        consumer = ServiceConsumer(
            [
                ConsumerRunner(
                    c,
                    database,
                    producer,
                    service=settings.service_name,
                    outbox=runtime.outbox,
                    runtime=runtime,
                    max_attempts=settings.consumer_max_attempts,
                    backoff_seconds=settings.consumer_backoff_seconds,
                )
                for c in CONSUMERS
            ]
        )
        await reader.start()
        partitions = await _partitions(reader, consumer.topics)
        if not partitions:
            report("  no topic holds any event yet: the projection stays empty")
            return Rebuilt(group, 0, time.monotonic() - started, await row_counts(database))
        reader.assign(partitions)
        await reader.seek_to_beginning(*partitions)
        ends = await reader.end_offsets(partitions)
        starts = await reader.beginning_offsets(partitions)
        total = sum(ends[tp] - starts[tp] for tp in partitions)
        topics = ", ".join(sorted({tp.topic for tp in partitions}))
        report(f"  reading {total} events from offset 0 of {topics} as group {group}")
        # SQLite has one writer: partitions side by side would only queue for its lock.
        concurrency = 1 if is_sqlite(settings.database_url) else settings.consumer_concurrency
        read, last_shown = 0, time.monotonic()
        behind = {tp for tp in partitions if starts[tp] < ends[tp]}
        while behind:
            batches = await reader.getmany(
                *behind, timeout_ms=500, max_records=settings.consumer_batch_size
            )
            # Each partition's records in offset order, as the service's poll hands them over.
            records = [r for tp in sorted(batches, key=str) for r in batches[tp]]
            if records:
                await consumer.handle_batch(records, concurrency)
                await reader.commit(
                    {
                        tp: OffsetAndMetadata(rows[-1].offset + 1, "")
                        for tp, rows in batches.items()
                        if rows
                    }
                )
                read += len(records)
            positions = {tp: await reader.position(tp) for tp in partitions}
            behind = {tp for tp in behind if positions[tp] < ends[tp]}
            if time.monotonic() - last_shown >= PROGRESS_EVERY_SECONDS or not behind:
                last_shown = time.monotonic()
                # Progress towards the end offsets seen at the start; events published since
                # (the service may be running) are applied too but are not part of the count.
                done = sum(min(positions[tp], ends[tp]) - starts[tp] for tp in partitions)
                report(f"  {done}/{total} events ({done / total:.0%})")
        rows = await row_counts(database)
        seconds = time.monotonic() - started
        since = f", {read - total} of them published since it started" if read > total else ""
        report(f"  {read} events read{since}")
        report(f"  caught up in {seconds:.1f} s: {_summary(rows)}")
        return Rebuilt(group, read, seconds, rows)
    finally:
        await reader.stop()
        await producer.stop()
        await redis.aclose()
        await database.dispose()


async def _partitions(reader: AIOKafkaConsumer, topics: list[str]) -> list[TopicPartition]:
    """Every partition of the topics that exist (a topic nothing was published to may not)."""
    await reader._client.force_metadata_update()
    found: list[TopicPartition] = []
    for topic in sorted(topics):
        found += [
            TopicPartition(topic, p) for p in sorted(reader.partitions_for_topic(topic) or ())
        ]
    return found


def _summary(rows: dict[str, int]) -> str:
    named = {
        "orders": rows[ORDERS.name],
        "order lines": rows[ORDER_LINES.name],
        "members": rows[MEMBERS.name],
        "SKUs in stock": rows[STOCK.name],
        "products": rows[PRODUCTS.name],
    }
    return ", ".join(f"{count} {name}" for name, count in named.items())
