"""CPU time per handled event in the analytics service, on PostgreSQL.

The events of an order's life as analytics sees them (placed with 1-4 lines, confirmed, the
stock committed, returned, the units back, the refund): what the suite pays for the projection
on every order.

    uv run --frozen python services/analytics/tests/bench/handler_cpu.py [-n 500] [--batch 50]
"""

from __future__ import annotations

import random
import uuid

from analytics_service.config import MIGRATIONS_DIR, AnalyticsSettings
from analytics_service.handlers import CONSUMERS
from chassis.testing.handler_cpu import postgres_bench, run_script
from chassis.testing.orders import (
    money,
    order_confirmed,
    order_line,
    order_placed,
    order_returned,
)
from shared_events.inventory import StockCommittedV1, StockLine, StockReleasedV1
from shared_events.payment import PaymentRefundedV1


def stock_lines(skus: list[str]) -> list[StockLine]:
    return [StockLine(sku=s, quantity=2) for s in skus]


async def main(n: int, batch: int) -> None:
    settings = AnalyticsSettings()
    async with postgres_bench(
        settings, None, CONSUMERS, migrations=MIGRATIONS_DIR, batch=batch
    ) as bench:
        rng = random.Random(7)
        skus = [f"SKU-{i}" for i in range(80)]
        orders = [f"bench-{uuid.uuid4()}" for _ in range(n)]
        lines = {o: rng.sample(skus, rng.randint(1, 4)) for o in orders}
        placed = [
            order_placed(o, [order_line(s, 2) for s in lines[o]], member_id=f"m-{o[-2:]}")
            for o in orders
        ]
        await bench.run_phases(
            [
                ("placed (1-4 lines)", placed),
                ("confirmed", [order_confirmed(o) for o in orders]),
                (
                    "stock committed",
                    [StockCommittedV1(order_id=o, lines=stock_lines(lines[o])) for o in orders],
                ),
                ("returned", [order_returned(o) for o in orders]),
                (
                    "stock released",
                    [
                        StockReleasedV1(
                            order_id=o, lines=stock_lines(lines[o]), reason="ORDER_RETURNED"
                        )
                        for o in orders
                    ],
                ),
                (
                    "refunded",
                    [
                        PaymentRefundedV1(
                            order_id=o, payment_id="p", refund_id="r", amount=money(1_000)
                        )
                        for o in orders
                    ],
                ),
            ]
        )


if __name__ == "__main__":
    run_script(__doc__, main)
