"""CPU time per handled event in the analytics service, on PostgreSQL.

The events of an order's life as analytics sees them (placed with 1-4 lines, confirmed, the
stock committed, returned, the units back, the refund) through the chassis runner without a
broker; prints the process CPU time per event (`chassis.testing.handler_cpu`). It is what the
suite pays for the projection on every order. Prints figures; asserts nothing.

    uv run --frozen python services/analytics/tests/bench/handler_cpu.py [-n 500] [--batch 50]
"""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime

from analytics_service.config import MIGRATIONS_DIR, AnalyticsSettings
from analytics_service.handlers import CONSUMERS
from chassis.testing.events import Record, record_of
from chassis.testing.handler_cpu import arguments, postgres_bench
from shared_events.inventory import StockCommittedV1, StockLine, StockReleasedV1
from shared_events.money import Money
from shared_events.order import OrderConfirmedV1, OrderLine, OrderPlacedV1, OrderReturnedV1
from shared_events.payment import PaymentRefundedV1

PRICE = Money(amount=1_000, currency="CNY")


def placed(order_id: str, skus: list[str]) -> Record:
    items = [
        OrderLine(sku=s, product_id="p", name="n", quantity=2, unit_price=PRICE, line_total=PRICE)
        for s in skus
    ]
    total = Money(amount=PRICE.amount * len(items), currency="CNY")
    return record_of(
        OrderPlacedV1(
            order_id=order_id,
            member_id=f"m-{order_id[-2:]}",
            currency="CNY",
            items=items,
            subtotal=total,
            discount=Money(amount=0, currency="CNY"),
            total=total,
            placed_at=datetime.now(UTC),
        )
    )


async def main(n: int, batch: int) -> None:
    settings = AnalyticsSettings()
    async with postgres_bench(
        settings, None, CONSUMERS, migrations=MIGRATIONS_DIR, batch=batch
    ) as bench:
        rng = random.Random(7)
        skus = [f"SKU-{i}" for i in range(80)]
        orders = [f"bench-{uuid.uuid4()}" for _ in range(n)]
        lines = {o: rng.sample(skus, rng.randint(1, 4)) for o in orders}
        print(await bench.run("placed (1-4 lines)", [placed(o, lines[o]) for o in orders]))
        phases = [
            (
                "confirmed",
                [OrderConfirmedV1(order_id=o, member_id="m", total=PRICE) for o in orders],
            ),
            (
                "stock committed",
                [
                    StockCommittedV1(
                        order_id=o, lines=[StockLine(sku=s, quantity=2) for s in lines[o]]
                    )
                    for o in orders
                ],
            ),
            (
                "returned",
                [
                    OrderReturnedV1(order_id=o, member_id="m", reason="R", total=PRICE)
                    for o in orders
                ],
            ),
            (
                "stock released",
                [
                    StockReleasedV1(
                        order_id=o,
                        lines=[StockLine(sku=s, quantity=2) for s in lines[o]],
                        reason="ORDER_RETURNED",
                    )
                    for o in orders
                ],
            ),
            (
                "refunded",
                [
                    PaymentRefundedV1(order_id=o, payment_id="p", refund_id="r", amount=PRICE)
                    for o in orders
                ],
            ),
        ]
        for label, payloads in phases:
            print(await bench.run(label, [record_of(p) for p in payloads]))


if __name__ == "__main__":
    args = arguments(__doc__)
    asyncio.run(main(args.n, args.batch))
