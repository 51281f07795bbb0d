"""Product reads carry each SKU's availability: the catalog owns products and prices, inventory
owns stock, and the gateway joins the two for the storefront (one inventory read per page, or
per 100 SKUs of a larger page).

When inventory does not answer in time the products still go out, with `available` as the
catalog sent it (null): a listing without stock figures beats no listing.

The read goes over the forward path's aiohttp session: with four product pages per order, httpx's
pool (which polls every pooled socket before each request) was the gateway's largest cost.

Each gateway process keeps the figures it read for `GATEWAY_AVAILABILITY_CACHE_SECONDS` (1 s;
0 reads every time), and a page that finds a SKU's figure missing while another page is
reading it waits for that read: on a busy day the pages of the hot products cost inventory one
read a second per process instead of one per page view. A product page may so show a figure
that old; the order itself is decided by inventory, never by the page.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import aiohttp

from chassis.kept import Kept
from chassis.logging import get_logger
from gateway_service.service.single_flight import SingleFlight

log = get_logger(__name__)
PRODUCT_READS = re.compile(r"^/api/v1/products(/[^/]+)?$")
TIMEOUT = aiohttp.ClientTimeout(total=1.0)


def is_product_read(method: str, path: str) -> bool:
    return method == "GET" and PRODUCT_READS.match(path) is not None


def products_of(document: Any) -> list[dict[str, Any]]:
    """The products in a page (`items`) or a single product."""
    if isinstance(document, dict) and isinstance(document.get("items"), list):
        return [p for p in document["items"] if isinstance(p, dict)]
    return [document] if isinstance(document, dict) and "skus" in document else []


def skus_of(products: list[dict[str, Any]]) -> list[str]:
    return [
        sku["sku"]
        for product in products
        for sku in product.get("skus") or []
        if isinstance(sku, dict) and isinstance(sku.get("sku"), str)
    ]


def fill(products: list[dict[str, Any]], available: Mapping[str, int]) -> None:
    """Set `available` on every SKU inventory knows (in place)."""
    for product in products:
        for sku in product.get("skus") or []:
            if isinstance(sku, dict) and sku.get("sku") in available:
                sku["available"] = available[sku["sku"]]


# Inventory's bulk read takes at most 200 SKUs (`GET /api/v1/inventory?sku=...`); a page of
# large products names more, so it is read in parts, at once. 100 keeps each URL under 7 KB.
SKUS_PER_READ = 100


async def fetch_available(
    session: aiohttp.ClientSession, inventory_url: str, skus: list[str]
) -> dict[str, int]:
    """Bulk reads from inventory, `SKUS_PER_READ` SKUs each, sent together; a part that does
    not answer is left out (logged, not raised)."""
    parts = [skus[i : i + SKUS_PER_READ] for i in range(0, len(skus), SKUS_PER_READ)]
    found: dict[str, int] = {}
    for part in await asyncio.gather(*(_read(session, inventory_url, p) for p in parts)):
        found.update(part)
    return found


async def _read(
    session: aiohttp.ClientSession, inventory_url: str, skus: list[str]
) -> dict[str, int]:
    try:
        async with session.get(
            f"{inventory_url}/api/v1/inventory",
            params=[("sku", sku) for sku in skus],
            timeout=TIMEOUT,
        ) as response:
            response.raise_for_status()
            document = json.loads(await response.read())
        return {item["sku"]: int(item["available"]) for item in document["items"]}
    except (aiohttp.ClientError, TimeoutError, KeyError, TypeError, ValueError) as error:
        log.warning("availability unavailable", error=repr(error), skus=len(skus))
        return {}


Loader = Callable[[list[str]], Awaitable[dict[str, int]]]


class AvailabilityReads:
    """Inventory's figures for product pages, each kept `ttl_seconds` after it was read (at
    most `max_skus` of them), and one read in flight per set of SKUs."""

    def __init__(
        self,
        load: Loader,
        ttl_seconds: float,
        *,
        max_skus: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.load = load
        self.ttl_seconds = ttl_seconds
        self._kept: Kept[str, int] = Kept(ttl_seconds, max_skus, clock=clock)
        self._reading: SingleFlight[tuple[str, ...], dict[str, int]] = SingleFlight()

    async def available(self, skus: list[str]) -> dict[str, int]:
        """The figure of each SKU inventory knows (those it does not know, or a read that
        failed, are left out: the page then shows what the catalog sent)."""
        if self.ttl_seconds <= 0:
            return await self.load(skus)
        found: dict[str, int] = {}
        missing: list[str] = []
        for sku in dict.fromkeys(skus):
            kept = self._kept.get(sku)
            if kept is None:
                missing.append(sku)
            else:
                found[sku] = kept
        if missing:
            wanted = tuple(sorted(missing))
            found.update(await self._reading.run(wanted, lambda: self._read(list(wanted))))
        return found

    async def _read(self, skus: list[str]) -> dict[str, int]:
        read = await self.load(skus)
        for sku, count in read.items():
            self._kept.put(sku, count)
        return read


async def with_availability(body: bytes, reads: AvailabilityReads) -> bytes | None:
    """The product body with availability filled in, or None to pass the original through."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    products = products_of(document)
    skus = skus_of(products)
    if not skus:
        return None
    available = await reads.available(skus)
    if not available:
        return None
    fill(products, available)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
