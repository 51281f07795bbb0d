"""An event published in two versions during a deprecation window, end to end on the real
broker and PostgreSQL: `inventory.stock.committed` v2 staged with its v1 twin, read by a
consumer written for v1 and one written for v2, each in its own group."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Sequence

import pytest
import sqlalchemy as sa
from prometheus_client import REGISTRY

from chassis.broker import make_broker, subscribe
from chassis.consumer import (
    ConsumerRunner,
    Delivery,
    EventConsumer,
    IncomingRecord,
    ServiceConsumer,
)
from chassis.db import Database
from chassis.outbox import Outbox, OutboxRelay
from chassis.producer import EventProducer, ensure_topics
from chassis.settings import ServiceSettings
from shared_events.inventory import (
    CommittedLine,
    LotAllocation,
    StockCommittedV1,
    StockCommittedV2,
    StockLine,
)
from shared_events.topics import INVENTORY_EVENTS

pytestmark = pytest.mark.integration

# What each consumer's handler saw: one row per event it applied.
seen_metadata = sa.MetaData()
seen = sa.Table(
    "committed_seen",
    seen_metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("consumer", sa.String(100), nullable=False),
    sa.Column("order_id", sa.String(100), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    # Per line, its allocations as (lot, quantity, trace code); null for a v1 reader.
    sa.Column("allocations", sa.Text, nullable=True),
)


def v1(order_id: str) -> StockCommittedV1:
    return StockCommittedV1(order_id=order_id, lines=[StockLine(sku="TEA-1", quantity=3)])


def v2(order_id: str) -> StockCommittedV2:
    allocations = [
        LotAllocation(lot="L-OLD", quantity=1, trace_code=f"{order_id}-1"),
        LotAllocation(lot="L-NEW", quantity=2, trace_code=f"{order_id}-2"),
    ]
    return StockCommittedV2(
        order_id=order_id,
        lines=[CommittedLine(sku="TEA-1", quantity=3, allocations=allocations)],
    )


async def record_v1(delivery: Delivery[None], event: StockCommittedV1) -> None:
    await delivery.session.exec(  # type: ignore[call-overload]
        sa.insert(seen).values(consumer="v1", order_id=event.order_id, version=1)
    )


async def record_v2(delivery: Delivery[None], event: StockCommittedV2) -> None:
    allocations = [
        [[a.lot, a.quantity, a.trace_code] for a in ln.allocations] for ln in event.lines
    ]
    await delivery.session.exec(  # type: ignore[call-overload]
        sa.insert(seen).values(
            consumer="v2", order_id=event.order_id, version=2, allocations=json.dumps(allocations)
        )
    )


class TheseOrdersOnly(ServiceConsumer):
    """The topic holds other tests' events too: hand the runners only these orders', and count
    the records handed over (twins included) so the test knows when all were read."""

    def __init__(self, runners: Sequence[ConsumerRunner], keys: set[bytes]) -> None:
        super().__init__(runners)
        self.keys = keys
        self.read = 0

    async def handle_batch(self, records: Sequence[IncomingRecord], c: int = 1) -> None:
        mine = [r for r in records if r.key in self.keys]
        await super().handle_batch(mine, c)
        self.read += len(mine)


def dead_lettered(consumer: str) -> float:
    value = REGISTRY.get_sample_value(
        "events_dead_lettered_total", {"service": "test", "consumer": consumer}
    )
    return value or 0.0


async def test_v1_and_v2_consumers_each_see_every_order_once(
    database: Database, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    await ensure_topics(kafka_bootstrap_servers, [INVENTORY_EVENTS])
    async with database.engine.begin() as conn:
        await conn.run_sync(seen_metadata.create_all)
    tag = uuid.uuid4().hex[:8]
    old_order = f"o-{tag}-before-v2"
    new_orders = [f"o-{tag}-{n}" for n in range(4)]

    outbox = Outbox("/services/inventory")
    async with database.transaction() as session:
        # Committed before v2 existed: a plain v1 record, no twin.
        outbox.stage(session, v1(old_order), subject=old_order)
    for order_id in new_orders:
        async with database.transaction() as session:
            outbox.stage(session, v2(order_id), subject=order_id, older=[v1(order_id)])
    relay = OutboxRelay(database, outbox, producer, service="test")
    published = 0
    while sent := await relay.relay_batch():
        published += sent
    assert published == 1 + 2 * len(new_orders)

    keys = {order_id.encode() for order_id in [old_order, *new_orders]}
    brokers, readers, names = [], [], {}
    for version, model, handler in (
        ("v1", StockCommittedV1, record_v1),
        ("v2", StockCommittedV2, record_v2),
    ):
        name = f"test-{version}-{tag}"
        names[version] = name
        runner = ConsumerRunner(
            EventConsumer(name, INVENTORY_EVENTS, {model: handler}),
            database,
            producer,  # a dead letter would really go to inventory.events.dlq
            service="test",
        )
        reader = TheseOrdersOnly([runner], keys)
        broker = make_broker(ServiceSettings(kafka_bootstrap_servers=kafka_bootstrap_servers))
        subscribe(broker, reader, group_id=name)
        brokers.append(broker)
        readers.append(reader)
    for broker in brokers:
        await broker.start()
    try:
        for _ in range(300):
            if all(reader.read >= published for reader in readers):
                break
            await asyncio.sleep(0.1)
    finally:
        for broker in brokers:
            await broker.stop()
    assert [reader.read for reader in readers] == [published, published]

    async with database.sessions() as session:
        rows = (
            await session.exec(  # type: ignore[call-overload]
                sa.select(seen.c.consumer, seen.c.order_id, seen.c.version, seen.c.allocations)
                .where(seen.c.order_id.like(f"o-{tag}-%"))
                .order_by(seen.c.consumer, seen.c.order_id)
            )
        ).all()
    by_consumer: dict[str, dict[str, object]] = {"v1": {}, "v2": {}}
    for consumer, order_id, version, allocations in rows:
        assert order_id not in by_consumer[consumer], f"{consumer} saw {order_id} twice"
        by_consumer[consumer][order_id] = (version, allocations and json.loads(allocations))

    every_order = {old_order, *new_orders}
    assert by_consumer["v1"] == dict.fromkeys(every_order, (1, None))
    assert by_consumer["v2"] == {
        old_order: (2, [[]]),  # upcast: a commit made before lots names none
        **{
            order_id: (2, [[["L-OLD", 1, f"{order_id}-1"], ["L-NEW", 2, f"{order_id}-2"]]])
            for order_id in new_orders
        },
    }
    assert dead_lettered(names["v1"]) == dead_lettered(names["v2"]) == 0
