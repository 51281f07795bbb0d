"""A flash sale's unit count at the edge, against a real Redis: a rush that finds the count
not loaded reads inventory once, and takes exactly the units there are."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from chassis.errors import ProblemError
from gateway_service.service.flash_stock import FlashSaleStock

pytestmark = pytest.mark.integration


async def test_a_rush_on_an_unloaded_count_reads_inventory_once(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    reads: list[list[str]] = []

    async def inventory(skus: list[str]) -> dict[str, int]:
        reads.append(skus)
        await asyncio.sleep(0.05)  # the rush arrives while the read is on its way
        return {"FLASH-1": 7}

    stock = FlashSaleStock(redis_client, redis_key_prefix, 30, inventory)
    outcomes = await asyncio.gather(
        *(stock.take({"FLASH-1": 1}) for _ in range(40)), return_exceptions=True
    )
    assert reads == [["FLASH-1"]]
    assert outcomes.count(True) == 7
    refused = [o for o in outcomes if isinstance(o, ProblemError)]
    assert len(refused) == 33 and {p.code for p in refused} == {"sold-out"}
    assert stock.sold_out({"FLASH-1": 1}) == "FLASH-1"  # the rest of the rush from memory


async def test_a_unit_given_back_is_sold_again(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    async def inventory(skus: list[str]) -> dict[str, int]:
        return {"FLASH-2": 1}

    stock = FlashSaleStock(redis_client, redis_key_prefix, 30, inventory, sold_out_memory_seconds=0)
    assert await stock.take({"FLASH-2": 1}) is True
    with pytest.raises(ProblemError):
        await stock.take({"FLASH-2": 1})
    await stock.give_back({"FLASH-2": 1})
    assert await stock.take({"FLASH-2": 1}) is True


async def test_a_count_inventory_cannot_give_lets_the_order_through(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    async def inventory(skus: list[str]) -> dict[str, int]:
        return {}  # inventory did not answer: inventory alone decides

    stock = FlashSaleStock(redis_client, redis_key_prefix, 30, inventory)
    assert await stock.take({"FLASH-3": 1}) is False
