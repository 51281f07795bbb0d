"""Expiry in the shop's time zone: a lot past its date is never sold, even when the lot job has
not withdrawn it yet and orders arrive all at once; the job withdraws it once and publishes
`inventory.lot.expired`; an order holding a lot that expires before its confirmation gets
other lots or is released; `inventory.lot.expiring` is published once per lot however often
(and however concurrently) the job runs."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
import sqlalchemy as sa
from sqlmodel import col, select

from chassis.outbox import OutboxRecord
from chassis.producer import EventProducer
from chassis.testing.events import send
from chassis.testing.tokens import TestTokenIssuer
from inventory_service.service.lot_jobs import check_lots
from inventory_service.tables import ALLOCATIONS
from shared_events import Envelope

from .conftest import (
    Inventory,
    SettingsFactory,
    confirmed,
    has,
    inventory_events,
    new_order_id,
    order_placed,
    running_inventory,
    sku,
    types_of,
)
from .lot_support import (
    age_lot,
    allocations_of,
    assert_invariants,
    lot_levels,
    place,
    receive_lot,
    reservation_status,
    stock_levels,
    today,
    yesterday,
)

pytestmark = pytest.mark.integration

RESERVED, REJECTED = "inventory.stock.reserved", "inventory.stock.rejected"
COMMITTED, RELEASED = "inventory.stock.committed", "inventory.stock.released"
REALLOCATED, WITHDRAWN = "inventory.stock.reallocated", "inventory.stock.withdrawn"
EXPIRED, EXPIRING = "inventory.lot.expired", "inventory.lot.expiring"


@pytest.fixture(scope="module")
async def inventory(
    inventory_settings: SettingsFactory, token_issuer: TestTokenIssuer
) -> AsyncIterator[Inventory]:
    """A shop in Shanghai (UTC+8: its day starts at 16:00 UTC); the lot job is run by the
    tests, never by the timer."""
    settings = await inventory_settings(
        shop_time_zone="Asia/Shanghai", expiring_warning_days=3, lot_check_seconds=3600
    )
    async with running_inventory(settings, token_issuer) as running:
        yield running


async def test_an_expired_lot_is_never_sold_even_to_concurrent_orders(
    inventory: Inventory, kafka_bootstrap_servers: str
) -> None:
    milk = sku("milk")
    await receive_lot(inventory, milk, "OLD", 100, today(inventory), storage_class="CHILLED")
    await receive_lot(
        inventory, milk, "FRESH", 30, today(inventory) + timedelta(days=5), storage_class="CHILLED"
    )
    # Midnight passed in Shanghai: OLD expired yesterday, and the lot job has not run yet.
    await age_lot(inventory.database, milk, "OLD", yesterday(inventory))
    orders = [new_order_id() for _ in range(50)]

    await asyncio.gather(*(place(inventory.runtime, o, [(milk, 1)], "m-1") for o in orders))

    outcomes = Counter([await reservation_status(inventory.database, o) for o in orders])
    assert outcomes == {"RESERVED": 30, "REJECTED": 20}
    async with inventory.database.sessions() as session:
        lots_sold = (
            await session.exec(
                sa.select(ALLOCATIONS.c.lot, sa.func.sum(ALLOCATIONS.c.quantity))
                .where(ALLOCATIONS.c.sku == milk)
                .group_by(ALLOCATIONS.c.lot)
            )
        ).all()
    assert [tuple(row) for row in lots_sold] == [("FRESH", 30)]
    # Until the job runs the expired units still count in the SKU's row: never sold though.
    assert await stock_levels(inventory, milk) == (130, 30, 100)
    # The refusals say what could be sold: nothing (not the expired units the row counts).
    async with inventory.database.sessions() as session:
        refusals = (
            await session.exec(
                select(OutboxRecord.data).where(
                    col(OutboxRecord.subject).in_(orders), OutboxRecord.event_type == REJECTED
                )
            )
        ).all()
    assert [json.loads(data)["short"] for data in refusals] == [
        [{"sku": milk, "requested": 1, "available": 0}]
    ] * 20

    await asyncio.gather(check_lots(inventory.runtime), check_lots(inventory.runtime))
    await check_lots(inventory.runtime)

    assert await lot_levels(inventory, milk) == {
        "OLD": ("EXPIRED", 100, 0),
        "FRESH": ("SELLABLE", 30, 30),
    }
    assert await stock_levels(inventory, milk) == (30, 30, 0)
    published = await inventory_events(kafka_bootstrap_servers, milk, until=has(EXPIRED))
    await asyncio.sleep(0.5)  # a second announcement, were there one, would be out by now
    assert (await inventory.staged(milk)).count(EXPIRED) == 1
    [expired] = [e for e in published if e.type == EXPIRED]
    assert expired.data == {
        "sku": milk,
        "lot": "OLD",
        "expiry_date": yesterday(inventory).isoformat(),
        "withdrawn": 100,
    }
    await assert_invariants(inventory.database, [milk])


async def _placed(
    producer: EventProducer, bootstrap: str, order_id: str, lines: list[tuple[str, int]]
) -> None:
    await send(producer, order_placed(order_id, lines), correlation_id=order_id)
    await inventory_events(bootstrap, order_id, until=has(RESERVED))


async def test_a_lot_expiring_before_the_job_runs_moves_a_held_order_to_other_lots(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    tofu, order_id = sku("tofu"), new_order_id()
    await receive_lot(inventory, tofu, "SOON", 2, today(inventory))
    await receive_lot(inventory, tofu, "LATER", 5, today(inventory) + timedelta(days=7))
    await _placed(producer, kafka_bootstrap_servers, order_id, [(tofu, 2)])
    assert await allocations_of(inventory.database, order_id) == [(tofu, "SOON", 2, "HELD")]

    await age_lot(inventory.database, tofu, "SOON", yesterday(inventory))
    await check_lots(inventory.runtime)
    await send(producer, confirmed(order_id), correlation_id=order_id)

    published = await inventory_events(
        kafka_bootstrap_servers, order_id, until=lambda e: types_of(e).count(COMMITTED) == 2
    )
    assert types_of(published) == [RESERVED, REALLOCATED, COMMITTED, COMMITTED]
    moved = published[1].data
    assert (moved["from_lot"], moved["quantity"], moved["reason"]) == ("SOON", 2, "LOT_EXPIRED")
    assert moved["allocations"] == [{"lot": "LATER", "quantity": 2, "trace_code": None}]
    [v2] = [e for e in published if e.type == COMMITTED and e.dataversion == 2]
    assert [a["lot"] for line in v2.data["lines"] for a in line["allocations"]] == ["LATER"]
    assert await lot_levels(inventory, tofu) == {
        "SOON": ("EXPIRED", 2, 0),
        "LATER": ("SELLABLE", 3, 0),
    }
    await assert_invariants(inventory.database, [tofu])


async def test_a_confirmation_after_midnight_never_commits_the_expired_lot(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    """The lot expired between the reservation and the confirmation, and the job has not run:
    the commit takes other lots, or releases the order when there are none."""
    bread, cake = sku("bread"), sku("cake")
    kept, lost = new_order_id(), new_order_id()
    await receive_lot(inventory, bread, "B-SOON", 3, today(inventory))
    await receive_lot(inventory, bread, "B-LATER", 5, today(inventory) + timedelta(days=3))
    await receive_lot(inventory, cake, "C-SOON", 3, today(inventory))
    await _placed(producer, kafka_bootstrap_servers, kept, [(bread, 2)])
    await _placed(producer, kafka_bootstrap_servers, lost, [(cake, 2), (bread, 1)])
    for code, lot in ((bread, "B-SOON"), (cake, "C-SOON")):
        await age_lot(inventory.database, code, lot, yesterday(inventory))

    await send(producer, confirmed(kept), correlation_id=kept)
    await send(producer, confirmed(lost), correlation_id=lost)

    published = await inventory_events(
        kafka_bootstrap_servers, kept, until=lambda e: types_of(e).count(COMMITTED) == 2
    )
    assert types_of(published) == [RESERVED, REALLOCATED, COMMITTED, COMMITTED]
    [v2] = [e for e in published if e.type == COMMITTED and e.dataversion == 2]
    assert [(a["lot"], a["quantity"]) for a in v2.data["lines"][0]["allocations"]] == [
        ("B-LATER", 2)
    ]
    cancelled = await inventory_events(
        kafka_bootstrap_servers, lost, until=lambda e: types_of(e).count(WITHDRAWN) == 2
    )
    # No other lot of cake: the whole order is released, its bread line with it.
    assert types_of(cancelled) == [RESERVED, RELEASED, WITHDRAWN, WITHDRAWN]
    assert cancelled[1].data["reason"] == "LOT_EXPIRED"
    lines = sorted([(cake, 2), (bread, 1)])
    assert cancelled[1].data["lines"] == [{"sku": s, "quantity": q} for s, q in lines]
    assert sorted((e.data["sku"], e.data["lot"], e.data["quantity"]) for e in cancelled[2:]) == (
        sorted([(cake, "C-SOON", 2), (bread, "B-SOON", 1)])
    )
    assert {e.data["reason"] for e in cancelled[2:]} == {"LOT_EXPIRED"}
    assert await reservation_status(inventory.database, lost) == "RELEASED"
    committed_lots = {
        lot
        for _, lot, _, status in await allocations_of(inventory.database, kept)
        if status == "COMMITTED"
    }
    assert committed_lots == {"B-LATER"}
    # Both expired lots are out of sale now, and nothing of them left the warehouse.
    assert (await lot_levels(inventory, bread))["B-SOON"] == ("EXPIRED", 3, 0)
    assert (await lot_levels(inventory, cake))["C-SOON"] == ("EXPIRED", 3, 0)
    assert await stock_levels(inventory, cake) == (0, 0, 0)
    for code in (bread, cake):  # withdrawn by the commit, announced once
        assert (await inventory.staged(code)).count(EXPIRED) == 1
    assert await stock_levels(inventory, bread) == (3, 0, 3)
    await assert_invariants(inventory.database, [bread, cake])


async def test_expiring_soon_is_announced_once_per_lot(
    inventory: Inventory, kafka_bootstrap_servers: str
) -> None:
    jam, day = sku("jam"), today(inventory)
    await receive_lot(inventory, jam, "TODAY", 1, day)  # 0 days left
    await receive_lot(inventory, jam, "TWO", 2, day + timedelta(days=2))
    await receive_lot(inventory, jam, "THREE", 3, day + timedelta(days=3))  # the edge
    await receive_lot(inventory, jam, "FOUR", 4, day + timedelta(days=4))  # not yet
    await receive_lot(inventory, jam, "NEVER", 5, None)

    for _ in range(3):
        await check_lots(inventory.runtime)
    await asyncio.gather(check_lots(inventory.runtime), check_lots(inventory.runtime))

    def three(envelopes: list[Envelope]) -> bool:
        return types_of(envelopes).count(EXPIRING) >= 3

    published = await inventory_events(kafka_bootstrap_servers, jam, until=three)
    await asyncio.sleep(0.5)
    assert (await inventory.staged(jam)).count(EXPIRING) == 3
    announced = sorted(
        (e.data["lot"], e.data["days_left"], e.data["on_hand"])
        for e in published
        if e.type == EXPIRING
    )
    assert announced == [("THREE", 3, 3), ("TODAY", 0, 1), ("TWO", 2, 2)]
    assert EXPIRED not in types_of(published)
