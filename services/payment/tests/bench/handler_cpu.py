"""CPU time per handled order event in the payment service, on PostgreSQL: authorize
(requested), capture (confirmed), void (rejected), refund (cancelled).

    uv run --frozen python services/payment/tests/bench/handler_cpu.py [-n 500] [--batch 50]
"""

from __future__ import annotations

import uuid

from chassis.testing.handler_cpu import postgres_bench, run_script
from chassis.testing.orders import money, order_cancelled, order_confirmed, order_rejected
from payment_service.adapters.providers import SandboxProvider
from payment_service.config import MIGRATIONS_DIR, PaymentSettings
from payment_service.deps import PaymentState
from payment_service.handlers import CONSUMERS
from shared_events.order import PaymentRequestedV1

AMOUNT = 12_800


async def main(n: int, batch: int) -> None:
    settings = PaymentSettings()
    state = PaymentState.build(settings, SandboxProvider())
    async with postgres_bench(
        settings, state, CONSUMERS, migrations=MIGRATIONS_DIR, batch=batch
    ) as bench:
        orders = [f"bench-{uuid.uuid4()}" for _ in range(3 * n)]
        captured, voided = orders[:n], orders[n : 2 * n]
        # One member per order, so the velocity rule never declines one.
        requested = [
            PaymentRequestedV1(
                order_id=o, member_id=f"m-{o}", amount=money(AMOUNT), payment_token="tok_visa"
            )
            for o in orders
        ]
        await bench.run_phases(
            [
                ("authorize (requested)", requested),
                ("capture (confirmed)", [order_confirmed(o, total=AMOUNT) for o in captured]),
                ("void (rejected)", [order_rejected(o) for o in voided]),
                ("refund (cancelled)", [order_cancelled(o) for o in captured]),
            ]
        )


if __name__ == "__main__":
    run_script(__doc__, main)
