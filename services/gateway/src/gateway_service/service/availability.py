"""Product reads carry each SKU's availability: the catalog owns products and prices, inventory
owns stock, and the gateway joins the two for the storefront (one inventory read per page).

When inventory does not answer in time the products still go out, with `available` as the
catalog sent it (null): a listing without stock figures beats no listing.

The read goes over the forward path's aiohttp session: with four product pages per order, httpx's
pool (which polls every pooled socket before each request) was the gateway's largest cost.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

import aiohttp

from chassis.logging import get_logger

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


async def fetch_available(
    session: aiohttp.ClientSession, inventory_url: str, skus: list[str]
) -> dict[str, int]:
    """One bulk read from inventory; empty when it does not answer (logged, not raised)."""
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


async def with_availability(
    body: bytes, session: aiohttp.ClientSession, inventory_url: str
) -> bytes | None:
    """The product body with availability filled in, or None to pass the original through."""
    try:
        document = json.loads(body)
    except ValueError:
        return None
    products = products_of(document)
    skus = skus_of(products)
    if not skus:
        return None
    available = await fetch_available(session, inventory_url, skus)
    if not available:
        return None
    fill(products, available)
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode()
