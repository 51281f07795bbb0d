"""CPU time per handled event in the inventory service, on PostgreSQL: products registered,
orders reserved (1-4 lines each), then committed, released, restocked and cancelled.

    uv run --frozen python services/inventory/tests/bench/handler_cpu.py [-n 500] [--batch 50]
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa

from chassis.testing.handler_cpu import postgres_bench, run_script
from chassis.testing.orders import (
    UNIT_PRICE,
    money,
    order_cancelled,
    order_confirmed,
    order_line,
    order_placed,
    order_rejected,
    order_returned,
)
from inventory_service.config import MIGRATIONS_DIR, InventorySettings
from inventory_service.handlers import CONSUMERS
from inventory_service.tables import LOTS, STOCK
from shared_events.catalog import ProductCreatedV1, SkuSnapshot
from shared_events.inventory import DEFAULT_LOT


def created(product_id: str) -> ProductCreatedV1:
    skus = [SkuSnapshot(sku=f"{product_id}-{size}", price=money(UNIT_PRICE)) for size in "SM"]
    return ProductCreatedV1(
        product_id=product_id,
        name=product_id,
        category="bench",
        skus=skus,
        status="DRAFT",
        version=1,
    )


async def main(n: int, batch: int) -> None:
    settings = InventorySettings()
    async with postgres_bench(
        settings, None, CONSUMERS, migrations=MIGRATIONS_DIR, batch=batch
    ) as bench:
        products = [f"p-{uuid.uuid4().hex[:8]}" for _ in range(n)]
        await bench.run_phases([("register (product created)", [created(p) for p in products])])
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
        orders = [
            order_placed(o, [order_line(s, 2) for s in rng.sample(skus, rng.randint(1, 4))])
            for o in ids
        ]
        await bench.run_phases(
            [
                ("reserve (placed, 1-4 lines)", orders),
                ("commit (confirmed)", [order_confirmed(o) for o in confirmed]),
                ("release (rejected)", [order_rejected(o) for o in rejected]),
                ("restock (returned)", [order_returned(o) for o in confirmed]),
                ("cancel (nothing left)", [order_cancelled(o) for o in rejected]),
            ]
        )


if __name__ == "__main__":
    run_script(__doc__, main)
