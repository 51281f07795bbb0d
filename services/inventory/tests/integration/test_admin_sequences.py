"""Random sequences of an admin's stock operations at the edges of what a SKU may hold, mixed
with orders reserving and confirming: every answer is a 2xx or a problem (never a 5xx, never a
value the database refused), and the stock rules hold after each sequence.

The fuzzing sends requests one at a time, each on its own; the overflow of a lot's `received`
count it found took five counts in a row of one SKU. These sequences go after such sums: the
same two SKUs (one stocked without lots, one by lot) are counted, adjusted and received into
at the edges again and again. Each seed is a fixed sequence, so a failure replays."""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

import httpx
import pytest

from inventory_service.domain.stock import MAX_UNITS

from .conftest import Inventory, new_order_id, sku
from .lot_support import assert_invariants, confirm, lot_body, place, today

pytestmark = pytest.mark.integration

STEPS = 40
LOTS = ("L1", "L2")


def units(rng: random.Random) -> int:
    return rng.choice([1, 2, MAX_UNITS - 1, MAX_UNITS, rng.randint(1, MAX_UNITS)])


class Sequence:
    """One seed's operations on a SKU stocked without lots (`plain`) and one by lot."""

    def __init__(self, inventory: Inventory, seed: int) -> None:
        self.inventory = inventory
        self.rng = random.Random(seed)
        self.plain, self.lotted = sku("plain"), sku("lotted")
        self.answers: list[tuple[str, int, str]] = []  # (operation, status, problem type)
        self.placed: list[str] = []

    async def call(self, what: str, method: str, path: str, body: Any) -> None:
        response: httpx.Response = await self.inventory.http.request(
            method, f"/api/v1/admin/inventory/{path}", json=body, headers=self.inventory.admin
        )
        problem = response.json().get("type", "") if response.status_code >= 400 else ""
        self.answers.append((what, response.status_code, problem))

    async def count(self) -> None:
        on_hand = self.rng.choice([0, units(self.rng)])
        await self.call("count", "PUT", self.plain, {"on_hand": on_hand})

    async def adjust(self) -> None:
        code = self.rng.choice([self.plain, self.lotted])
        body: dict[str, Any] = {"delta": self.rng.choice([-1, 1]) * units(self.rng)}
        body["reason"] = "count"
        if code == self.lotted:
            body["lot"] = self.rng.choice(LOTS)
        await self.call("adjust", "POST", f"{code}/adjustments", body)

    async def receive(self) -> None:
        expiry = today(self.inventory) + timedelta(days=self.rng.randint(30, 300))
        body = lot_body(self.rng.choice(LOTS), units(self.rng), expiry_date=expiry.isoformat())
        await self.call("receive", "POST", f"{self.lotted}/lots", body)

    async def order(self) -> None:
        order_id = new_order_id()
        lines = [(self.rng.choice([self.plain, self.lotted]), self.rng.randint(1, 5))]
        await place(self.inventory.runtime, order_id, lines, "m-1")
        self.placed.append(order_id)

    async def confirm_one(self) -> None:
        if self.placed:
            await confirm(self.inventory.runtime, self.placed.pop(0))

    async def run(self) -> None:
        steps: list[Callable[[], Awaitable[None]]] = [
            self.count,
            self.adjust,
            self.receive,
            self.order,
            self.confirm_one,
        ]
        await self.count()
        await self.receive()
        for _ in range(STEPS):
            await self.rng.choice(steps)()


@pytest.mark.parametrize("seed", range(1, 7))
async def test_edge_sequences_answer_2xx_or_a_problem_and_keep_the_stock_rules(
    inventory: Inventory, seed: int
) -> None:
    sequence = Sequence(inventory, seed)
    await sequence.run()
    failed = [a for a in sequence.answers if a[1] >= 500 or a[2].endswith("/unstorable-value")]
    assert not failed, failed
    assert {status for _, status, _ in sequence.answers} <= {200, 201, 404, 409}
    assert any(status in (200, 201) for _, status, _ in sequence.answers)
    await assert_invariants(inventory.database, [sequence.plain, sequence.lotted])
