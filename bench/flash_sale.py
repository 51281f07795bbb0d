"""Flash sale: many distinct buyers, a hundred units of one SKU, every buyer orders one at the
same moment. Exactly the stock sells, nothing more."""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field

import httpx

from bench.databases import ServiceDatabases
from bench.load import Sent
from bench.storefront import RETRIED, Headers, Storefront
from bench.tracker import OrderTracker
from chassis.testing.polling import eventually
from tools.invariants import CONFIRMED

BUY_ATTEMPTS = 20
# The flash-sale SKU, known to the gateway before the suite starts: one unit per buyer, and its
# stock counted at the edge (GATEWAY_FLASH_SALE_LIMITS).
FLASH_SKU = "BENCH-FLASH-SALE"
GATEWAY_ENV = {"GATEWAY_FLASH_SALE_LIMITS": f'{{"{FLASH_SKU}": 1}}'}


@dataclass
class FlashFigures:
    buyers: int
    units: int
    register_seconds: float
    register_per_s: float
    accepted: int
    http_errors: dict[str, int]  # the last answer of each buyer without an order
    retried: dict[str, int]  # answers that made a buyer try again, by status
    confirmed: int  # outcomes seen for the orders the buyers got a 2xx for
    confirmed_in_db: int  # every confirmed order of the SKU
    rejected: dict[str, int]
    undecided: int
    sell_out_seconds: float | None  # first POST to the last unit's confirmation
    all_decided_seconds: float
    committed_units: int
    on_hand: int
    reserved: int
    oversell: int
    ok: bool = False
    notes: list[str] = field(default_factory=list)


async def register_buyers(
    store: Storefront, count: int, concurrency: int
) -> tuple[list[Headers], float]:
    started = time.perf_counter()
    buyers = await store.members(count, concurrency)
    return buyers, time.perf_counter() - started


async def buy(
    store: Storefront, buyer: Headers, sku: str, sent: Sent, retries: Counter[str]
) -> None:
    """A buyer keeps trying while the gateway says busy (429/503, or no answer), as a shop's
    page does, with the same Idempotency-Key, waiting Retry-After (at most 2 s) between."""
    key = str(uuid.uuid4())
    for _ in range(BUY_ATTEMPTS):
        try:
            response = await store.place(buyer, sku, key)
        except httpx.HTTPError as exc:
            sent.status, wait = type(exc).__name__, 1.0
        else:
            sent.status = str(response.status_code)
            if response.is_success:
                sent.order_id = response.json()["order_id"]
            if response.status_code not in RETRIED:
                break
            wait = min(float(response.headers.get("Retry-After", 1)), 2.0)
        retries[sent.status] += 1
        await asyncio.sleep(wait * random.uniform(0.5, 1.0))
    sent.answered = time.perf_counter()


async def buy_all(
    store: Storefront, buyers: list[Headers], sku: str
) -> tuple[float, list[Sent], Counter[str]]:
    began = time.perf_counter()
    sent = [Sent(began) for _ in buyers]
    retries: Counter[str] = Counter()
    await asyncio.gather(
        *(buy(store, b, sku, s, retries) for b, s in zip(buyers, sent, strict=True))
    )
    return began, sent, retries


async def confirmed_in_db(dbs: ServiceDatabases, sku: str) -> int:
    """Confirmed orders of `sku` in the order database: also those whose buyer never saw a
    2xx (an answer lost, then a retry refused)."""
    sql = (
        "SELECT count(*) FROM orders o JOIN order_lines l ON l.order_id = o.id "
        "WHERE l.sku = $1 AND o.status = ANY($2::text[])"
    )
    return int(await dbs.scalar("order", sql, sku, list(CONFIRMED)))


async def stock_figures(dbs: ServiceDatabases, sku: str) -> tuple[int, int, int]:
    """(committed units, on hand, reserved) of `sku` in inventory's own database."""
    committed = await dbs.scalar(
        "inventory",
        "SELECT coalesce(-sum(delta_on_hand), 0) FROM stock_movements "
        "WHERE sku = $1 AND kind = 'COMMIT'",
        sku,
    )
    row = (await dbs.query("inventory", "SELECT on_hand, reserved FROM stock WHERE sku = $1", sku))[
        0
    ]
    return int(committed), int(row["on_hand"]), int(row["reserved"])


async def flash_sale(
    store: Storefront,
    tracker: OrderTracker,
    dbs: ServiceDatabases,
    admin: Headers,
    *,
    buyers: int,
    units: int,
    concurrency: int,
    grace: float,
) -> tuple[FlashFigures, list[str]]:
    """The figures, and the order ids that got a 2xx."""
    sku = await store.product(admin, units, sku=FLASH_SKU)
    members, register_seconds = await register_buyers(store, buyers, concurrency)
    began, sent, retries = await buy_all(store, members, sku)
    accepted = [s.order_id for s in sent if s.order_id]
    undecided = await tracker.settle(accepted, grace)
    outcomes = [tracker.outcomes[o] for o in accepted if o in tracker.outcomes]
    confirmed = sorted(o.at for o in outcomes if o.status == "CONFIRMED")
    committed, on_hand, reserved = await settled_stock(dbs, sku, min(len(confirmed), units), grace)
    figures = FlashFigures(
        buyers=buyers,
        units=units,
        register_seconds=register_seconds,
        register_per_s=buyers / register_seconds,
        accepted=len(accepted),
        http_errors=dict(Counter(s.status for s in sent if not s.order_id)),
        retried=dict(retries),
        confirmed=len(confirmed),
        confirmed_in_db=await confirmed_in_db(dbs, sku),
        rejected=dict(
            Counter(f"{o.status}:{o.reason}" for o in outcomes if o.status != "CONFIRMED")
        ),
        undecided=len(undecided),
        sell_out_seconds=confirmed[units - 1] - began if len(confirmed) >= units else None,
        all_decided_seconds=max((o.at for o in outcomes), default=began) - began,
        committed_units=committed,
        on_hand=on_hand,
        reserved=reserved,
        oversell=max(0, committed - units) + max(0, -on_hand),
    )
    figures.ok = figures.confirmed_in_db == units and figures.oversell == 0 and not undecided
    return figures, accepted


async def settled_stock(
    dbs: ServiceDatabases, sku: str, expected: int, grace: float
) -> tuple[int, int, int]:
    """Commits follow confirmations: wait (at most `grace`) until `expected` are in."""
    return await eventually(lambda: stock_figures(dbs, sku), lambda f: f[0] >= expected, grace)
