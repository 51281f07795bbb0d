"""CPU time per handled order event in the payment service, on PostgreSQL.

Runs N events of each kind through the chassis runner without a broker and prints the
process CPU time per event (`chassis.testing.handler_cpu`). Prints figures; asserts nothing.

    uv run --frozen python services/payment/tests/bench/handler_cpu.py [-n 500] [--batch 50]
"""

from __future__ import annotations

import asyncio
import uuid

from chassis.testing.events import record_of
from chassis.testing.handler_cpu import arguments, postgres_bench
from payment_service.adapters.providers import SandboxProvider
from payment_service.config import MIGRATIONS_DIR, PaymentSettings
from payment_service.deps import PaymentState
from payment_service.handlers import CONSUMERS
from shared_events.money import Money
from shared_events.order import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderRejectedV1,
    PaymentRequestedV1,
)

AMOUNT = Money(amount=12_800, currency="CNY")


async def main(n: int, batch: int) -> None:
    settings = PaymentSettings()
    state = PaymentState.build(settings, SandboxProvider())
    async with postgres_bench(
        settings, state, CONSUMERS, migrations=MIGRATIONS_DIR, batch=batch
    ) as bench:
        orders = [f"bench-{uuid.uuid4()}" for _ in range(3 * n)]
        captured, voided = orders[:n], orders[n : 2 * n]
        phases = [
            (
                "authorize (requested)",
                # One member per order, so the velocity rule never declines one.
                [
                    PaymentRequestedV1(
                        order_id=o, member_id=f"m-{o}", amount=AMOUNT, payment_token="tok_visa"
                    )
                    for o in orders
                ],
            ),
            (
                "capture (confirmed)",
                [OrderConfirmedV1(order_id=o, member_id="m", total=AMOUNT) for o in captured],
            ),
            (
                "void (rejected)",
                [OrderRejectedV1(order_id=o, member_id="m", reason="X") for o in voided],
            ),
            (
                "refund (cancelled)",
                [
                    OrderCancelledV1(order_id=o, member_id="m", reason="R", was_confirmed=True)
                    for o in captured
                ],
            ),
        ]
        for label, payloads in phases:
            print(await bench.run(label, [record_of(p) for p in payloads]))


if __name__ == "__main__":
    args = arguments(__doc__)
    asyncio.run(main(args.n, args.batch))
