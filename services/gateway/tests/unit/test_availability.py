from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from chassis.testing.clock import ManualClock
from gateway_service.service.availability import (
    AvailabilityReads,
    fetch_available,
    fill,
    is_product_read,
    products_of,
    skus_of,
)


def product(*skus: str) -> dict[str, Any]:
    return {"id": "p", "skus": [{"sku": s, "available": None} for s in skus]}


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/v1/products", True),
        ("GET", "/api/v1/products/abc", True),
        ("POST", "/api/v1/products", False),
        ("GET", "/api/v1/products/abc/reviews", False),
        ("GET", "/api/v1/admin/products", False),
    ],
)
def test_only_storefront_product_reads_are_joined(method: str, path: str, expected: bool) -> None:
    assert is_product_read(method, path) is expected


def test_a_page_and_a_single_product_are_both_filled() -> None:
    page = {"items": [product("A", "B"), product("C")], "total": 2}
    single = product("D")
    assert skus_of(products_of(page)) == ["A", "B", "C"]
    assert skus_of(products_of(single)) == ["D"]
    fill(products_of(page), {"A": 3, "C": 0})
    assert [s["available"] for p in page["items"] for s in p["skus"]] == [3, None, 0]


def test_other_documents_have_no_products() -> None:
    assert products_of({"type": "about:blank", "status": 404}) == []
    assert products_of([1, 2]) == []


class Inventory:
    """Stands in for inventory's bulk read: counts the reads, answers from `stock`."""

    def __init__(self, stock: dict[str, int], delay: float = 0.0) -> None:
        self.stock = stock
        self.delay = delay
        self.reads: list[list[str]] = []

    async def read(self, skus: list[str]) -> dict[str, int]:
        self.reads.append(skus)
        await asyncio.sleep(self.delay)
        return {s: self.stock[s] for s in skus if s in self.stock}


async def test_a_figure_is_kept_for_its_time_then_read_again() -> None:
    inventory, clock = Inventory({"A": 3, "B": 5}), ManualClock()
    reads = AvailabilityReads(inventory.read, 1.0, clock=clock)
    assert await reads.available(["A", "B"]) == {"A": 3, "B": 5}
    inventory.stock["A"] = 2
    clock.now += 0.9
    assert await reads.available(["B", "A"]) == {"A": 3, "B": 5}  # kept: no read
    clock.now += 0.2
    assert await reads.available(["A"]) == {"A": 2}
    assert inventory.reads == [["A", "B"], ["A"]]


async def test_only_the_missing_skus_are_read() -> None:
    inventory, clock = Inventory({"A": 3, "B": 5, "C": 0}), ManualClock()
    reads = AvailabilityReads(inventory.read, 1.0, clock=clock)
    await reads.available(["A"])
    assert await reads.available(["C", "A", "B", "A"]) == {"A": 3, "B": 5, "C": 0}
    assert inventory.reads == [["A"], ["B", "C"]]


async def test_a_rush_waits_for_the_read_in_flight() -> None:
    inventory = Inventory({"A": 3}, delay=0.05)
    reads = AvailabilityReads(inventory.read, 1.0)
    pages = await asyncio.gather(*(reads.available(["A"]) for _ in range(30)))
    assert pages == [{"A": 3}] * 30
    assert inventory.reads == [["A"]]


async def test_a_failed_or_unknown_read_is_not_kept() -> None:
    inventory, clock = Inventory({}), ManualClock()
    reads = AvailabilityReads(inventory.read, 1.0, clock=clock)
    assert await reads.available(["A"]) == {}
    inventory.stock["A"] = 4
    assert await reads.available(["A"]) == {"A": 4}
    assert len(inventory.reads) == 2


async def test_zero_seconds_reads_every_time() -> None:
    inventory = Inventory({"A": 3})
    reads = AvailabilityReads(inventory.read, 0)
    await reads.available(["A"])
    await reads.available(["A"])
    assert inventory.reads == [["A"], ["A"]]


async def test_a_page_naming_more_skus_than_inventory_reads_at_once_is_read_in_parts() -> None:
    # A stand-in for inventory's bulk read on a real socket, with its 200-SKU cap.
    reads: list[int] = []

    async def bulk_read(request: web.Request) -> web.Response:
        skus = request.query.getall("sku")
        reads.append(len(skus))
        if len(skus) > 200:
            return web.json_response({"status": 422}, status=422)
        return web.json_response({"items": [{"sku": s, "available": len(s)} for s in skus]})

    app = web.Application()
    app.router.add_get("/api/v1/inventory", bulk_read)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    skus = [f"SKU-{i}" for i in range(450)]
    try:
        async with aiohttp.ClientSession() as session:
            found = await fetch_available(session, f"http://127.0.0.1:{port}", skus)
    finally:
        await runner.cleanup()
    assert found == {s: len(s) for s in skus}
    assert sorted(reads) == [50, 100, 100, 100, 100]
