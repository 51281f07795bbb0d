"""A flash sale's unit count at the edge, against a real Redis: a rush that finds the count
not loaded reads inventory once, and takes exactly the units there are; in the rush after a
sell-out, late orders are judged by the count read with their rate limit."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis

from chassis.errors import ProblemError
from gateway_service.service.flash_stock import FlashSaleStock
from gateway_service.service.limits import Limit, RateCounter

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


async def sold_out_stock(
    redis: aioredis.Redis, prefix: str, sku: str, memory_seconds: float
) -> FlashSaleStock:
    """A count of one unit for `sku`, taken, then found sold out (remembered from here)."""

    async def inventory(skus: list[str]) -> dict[str, int]:
        return {sku: 1}

    stock = FlashSaleStock(redis, prefix, 30, inventory, sold_out_memory_seconds=memory_seconds)
    assert await stock.take({sku: 1}) is True
    with pytest.raises(ProblemError):
        await stock.take({sku: 1})
    return stock


async def late_order(stock: FlashSaleStock, sku: str) -> str | None:
    """A late order for one unit, judged by the count as the rush's path reads it (with a
    client's rate limit, in one round trip)."""
    counter = RateCounter(stock.redis)
    counted = [Limit(f"{stock.prefix}:test-client", 1_000)]
    result = await counter.count_and_read(counted, keys=stock.keys([sku]))
    assert result is not None, "Redis is up: the count is read"
    return stock.judge_late_order({sku: 1}, result[1])


async def test_the_rush_renews_the_memory_while_the_count_says_sold_out(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    stock = await sold_out_stock(redis_client, redis_key_prefix, "FLASH-4", 0.2)
    for _ in range(4):  # 0.4 s of late buyers: twice the memory's length
        await asyncio.sleep(0.1)
        assert await late_order(stock, "FLASH-4") == "FLASH-4"
    assert stock.sold_out({"FLASH-4": 1}) == "FLASH-4"  # renewed by each refusal
    await asyncio.sleep(0.25)
    assert stock.sold_out({"FLASH-4": 1}) is None  # no buyer came: it lapses


async def test_a_unit_back_in_the_count_is_sold_at_once_in_the_rush(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    stock = await sold_out_stock(redis_client, redis_key_prefix, "FLASH-5", 30)
    await stock.give_back({"FLASH-5": 1})  # a declined card
    assert await late_order(stock, "FLASH-5") is None  # the count has it: the full path
    assert stock.sold_out({"FLASH-5": 1}) is None  # forgotten, though remembered for 30 s
    assert await stock.take({"FLASH-5": 1}) is True


async def test_without_a_count_the_memory_answers_the_rush(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    stock = await sold_out_stock(redis_client, redis_key_prefix, "FLASH-6", 30)
    await redis_client.delete(*stock.keys(["FLASH-6"]))  # the count expired
    assert await late_order(stock, "FLASH-6") == "FLASH-6"
