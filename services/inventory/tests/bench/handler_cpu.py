"""CPU time per handled event in the inventory service, on PostgreSQL.

Runs N events of each kind through the chassis runner without a broker and prints the
process CPU time per event (`chassis.testing.handler_cpu`). Prints figures; asserts nothing.

    uv run --frozen python services/inventory/tests/bench/handler_cpu.py [-n 500] [--batch 50]
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from chassis.testing.events import Record, record_of
from chassis.testing.handler_cpu import arguments, postgres_bench
from inventory_service.config import MIGRATIONS_DIR, InventorySettings
from inventory_service.handlers import CONSUMERS
from inventory_service.tables import LOTS, STOCK
from shared_events.catalog import ProductCreatedV1, SkuSnapshot
from shared_events.inventory import DEFAULT_LOT
from shared_events.money import Money
from shared_events.order import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderLine,
    OrderPlacedV1,
    OrderRejectedV1,
    OrderReturnedV1,
)

PRICE = Money(amount=1_000, currency="CNY")


def created(product_id: str) -> Record:
    skus = [SkuSnapshot(sku=f"{product_id}-{size}", price=PRICE) for size in "SM"]
    return record_of(
        ProductCreatedV1(
            product_id=product_id,
            name=product_id,
            category="bench",
            skus=skus,
            status="DRAFT",
            version=1,
        )
    )


def placed(order_id: str, skus: list[str]) -> Record:
    items = [
        OrderLine(sku=s, product_id="p", name="n", quantity=2, unit_price=PRICE, line_total=PRICE)
        for s in skus
    ]
    zero = Money(amount=0, currency="CNY")
    return record_of(
        OrderPlacedV1(
            order_id=order_id,
            member_id="m",
            currency="CNY",
            items=items,
            subtotal=PRICE,
            discount=zero,
            total=PRICE,
            placed_at=datetime.now(UTC),
        )
    )


async def main(n: int, batch: int) -> None:
    settings = InventorySettings()
    async with postgres_bench(
        settings, None, CONSUMERS, migrations=MIGRATIONS_DIR, batch=batch
    ) as bench:
        products = [f"p-{uuid.uuid4().hex[:8]}" for _ in range(n)]
        print(await bench.run("register (product created)", [created(p) for p in products]))
        # Orders draw on 80 SKUs with stock to spare, so every reservation succeeds.
        skus = sorted(f"{p}-{size}" for p in products[:40] for size in "SM")
        at = datetime.now(UTC)
        async with bench.runtime.database.transaction() as session:
            await session.exec(sa.update(STOCK).where(STOCK.c.sku.in_(skus)).values(on_hand=10**6))
            # Each SKU's units in its implicit lot, as a stock take would put them.
            lots = [
                {
                    "sku": sku,
                    "code": DEFAULT_LOT,
                    "status": "SELLABLE",
                    "on_hand": 10**6,
                    "reserved": 0,
                    "received": 10**6,
                    "storage_class": "AMBIENT",
                    "received_at": at,
                    "updated_at": at,
                }
                for sku in skus
            ]
            await session.exec(sa.insert(LOTS).values(lots))
        rng = random.Random(7)
        ids = [f"bench-{uuid.uuid4()}" for _ in range(2 * n)]
        confirmed, rejected = ids[:n], ids[n:]
        orders = [placed(o, rng.sample(skus, rng.randint(1, 4))) for o in ids]
        print(await bench.run("reserve (placed, 1-4 lines)", orders))
        phases = [
            (
                "commit (confirmed)",
                [OrderConfirmedV1(order_id=o, member_id="m", total=PRICE) for o in confirmed],
            ),
            (
                "release (rejected)",
                [OrderRejectedV1(order_id=o, member_id="m", reason="X") for o in rejected],
            ),
            (
                "restock (returned)",
                [
                    OrderReturnedV1(order_id=o, member_id="m", reason="R", total=PRICE)
                    for o in confirmed
                ],
            ),
            (
                "cancel (nothing left)",
                [
                    OrderCancelledV1(order_id=o, member_id="m", reason="R", was_confirmed=True)
                    for o in rejected
                ],
            ),
        ]
        for label, payloads in phases:
            print(await bench.run(label, [record_of(p) for p in payloads]))


if __name__ == "__main__":
    args = arguments(__doc__)
    asyncio.run(main(args.n, args.batch))
