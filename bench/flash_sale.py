"""Flash sale: many distinct buyers, a hundred units of one SKU, every buyer orders one at the
same moment. Exactly the stock sells, nothing more.

The target (printed, not asserted): every buyer has an answer within 2 s of the first request.
"Answered" is a buyer's final HTTP answer: a 2xx (an order, decided later by the saga) or a
refusal such as 409 `sold-out`; a 429/503 or a transport error is not an answer, the buyer
retries it with the same Idempotency-Key (as a shop's page does), so the time includes those
retries. Printed apart: the time until every order was decided (its saga's outcome), the
confirmed count, the oversell, the 5xx answers (every one seen, retried or final) and the
sold-out answers.

The buyers are set up before the sale and timed apart from it (bench.buyers: members inserted
with one precomputed argon2id hash of the shared bench password, then a real login each,
concurrently); `--flash-setup register` registers each through the API instead, as before.
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from bench.buyers import flash_buyers
from bench.databases import Databases
from bench.load import Sent
from bench.stats import percentile
from bench.storefront import RETRIED, TRANSPORT_ERRORS, Headers, Storefront
from bench.tracker import OrderTracker
from chassis.testing.polling import eventually
from tools.invariants import CONFIRMED

BUY_ATTEMPTS = 20
TARGET_ANSWERED_SECONDS = 2.0  # every buyer answered within this of the first request
# The flash-sale SKU, known to the gateway before the suite starts: one unit per buyer, and its
# stock counted at the edge (GATEWAY_FLASH_SALE_LIMITS).
FLASH_SKU = "BENCH-FLASH-SALE"
GATEWAY_ENV = {"GATEWAY_FLASH_SALE_LIMITS": f'{{"{FLASH_SKU}": 1}}'}


@dataclass
class FlashFigures:
    buyers: int
    units: int
    register_seconds: float  # the buyers' set-up (before the sale), however it was done
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
    setup: str = ""  # how the buyers were set up
    all_answered_seconds: float = 0.0  # first POST to every buyer's final answer
    first_answer_p50_ms: float = 0.0  # each buyer's first answer, retried or not
    # The last final answer of each kind: an order (2xx) and a refusal (4xx).
    accepted_answered_seconds: float = 0.0
    refused_answered_seconds: float = 0.0
    server_errors: int = 0  # 5xx answers seen, retried ones included
    final_server_errors: int = 0  # buyers whose last answer was a 5xx
    sold_out: int = 0  # buyers told 409 sold-out
    ok: bool = False
    notes: list[str] = field(default_factory=list)

    @property
    def met_target(self) -> bool:
        return self.all_answered_seconds <= TARGET_ANSWERED_SECONDS


async def register_buyers(
    store: Storefront, count: int, concurrency: int
) -> tuple[list[Headers], float]:
    started = time.perf_counter()
    buyers = await store.members(count, concurrency)
    return buyers, time.perf_counter() - started


async def buy(
    store: Storefront,
    buyer: Headers,
    sku: str,
    sent: Sent,
    retries: Counter[str],
    first: list[float] | None = None,
    answers: Counter[str] | None = None,
) -> None:
    """A buyer keeps trying while the gateway says busy (429/503, or no answer), as a shop's
    page does, with the same Idempotency-Key, waiting Retry-After (at most 2 s) between.
    `first` gets the time of the buyer's first answer, `answers` counts every answer."""
    key = str(uuid.uuid4())
    for _ in range(BUY_ATTEMPTS):
        try:
            response = await store.place(buyer, sku, key)
        except TRANSPORT_ERRORS as exc:
            sent.status, wait = type(exc).__name__, 1.0
        else:
            sent.status = str(response.status_code)
            if response.is_success:
                sent.order_id = response.json()["order_id"]
            else:
                sent.detail = response.text[:200]
            if first is not None and not first:
                first.append(time.perf_counter())
            if answers is not None:
                answers[sent.status] += 1
            if response.status_code not in RETRIED:
                break
            wait = min(float(response.headers.get("Retry-After", 1)), 2.0)
        retries[sent.status] += 1
        await asyncio.sleep(wait * random.uniform(0.5, 1.0))
    sent.answered = time.perf_counter()


@dataclass
class Sale:
    began: float  # the first request
    sent: list[Sent]  # each buyer's last answer
    retries: Counter[str]  # answers that made a buyer try again, by status
    answers: Counter[str]  # every HTTP answer, by status
    firsts: list[float]  # each buyer's first answer


async def buy_all(store: Storefront, buyers: list[Headers], sku: str) -> Sale:
    began = time.perf_counter()
    sale = Sale(began, [Sent(began) for _ in buyers], Counter(), Counter(), [])
    firsts: list[list[float]] = [[] for _ in buyers]
    await asyncio.gather(
        *(
            buy(store, b, sku, s, sale.retries, f, sale.answers)
            for b, s, f in zip(buyers, sale.sent, firsts, strict=True)
        )
    )
    sale.firsts = [f[0] for f in firsts if f]
    return sale


async def confirmed_in_db(dbs: Databases, sku: str) -> int:
    """Confirmed orders of `sku` in the order database: also those whose buyer never saw a
    2xx (an answer lost, then a retry refused)."""
    sql = (
        "SELECT count(*) FROM orders o JOIN order_lines l ON l.order_id = o.id "
        "WHERE l.sku = $1 AND o.status = ANY($2::text[])"
    )
    return int(await dbs.scalar("order", sql, sku, list(CONFIRMED)))


async def stock_figures(dbs: Databases, sku: str) -> tuple[int, int, int]:
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
    dbs: Databases,
    admin: Headers,
    *,
    buyers: int,
    units: int,
    concurrency: int,
    grace: float,
    setup: str = "insert",
    login_concurrency: int = 8,
    on_setup: Callable[[float, str], None] | None = None,
) -> tuple[FlashFigures, list[str]]:
    """The figures, and the order ids that got a 2xx. `setup`: "insert" (bench.buyers) or
    "register" (each buyer through the API); `on_setup` hears how long that took."""
    sku = await store.product(admin, units, sku=FLASH_SKU)
    if setup == "register":
        members, register_seconds = await register_buyers(store, buyers, concurrency)
        how = f"registered and logged in through the API ({concurrency} at once)"
    else:
        members, register_seconds, how = await flash_buyers(store, dbs, buyers, login_concurrency)
    if on_setup:
        on_setup(register_seconds, how)
    sale = await buy_all(store, members, sku)
    began, sent, retries = sale.began, sale.sent, sale.retries
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
        setup=how,
        all_answered_seconds=max((s.answered for s in sent), default=began) - began,
        first_answer_p50_ms=percentile([f - began for f in sale.firsts], 50) * 1000,
        accepted_answered_seconds=last_answer(sent, began, accepted=True),
        refused_answered_seconds=last_answer(sent, began, accepted=False),
        server_errors=sum(n for status, n in sale.answers.items() if status.startswith("5")),
        final_server_errors=sum(1 for s in sent if s.status.startswith("5")),
        sold_out=sum(1 for s in sent if s.status == "409" and "sold-out" in s.detail),
    )
    figures.ok = figures.confirmed_in_db == units and figures.oversell == 0 and not undecided
    return figures, accepted


def last_answer(sent: list[Sent], began: float, *, accepted: bool) -> float:
    """Seconds from the first request to the last final answer with (or without) an order."""
    return max((s.answered for s in sent if bool(s.order_id) == accepted), default=began) - began


async def settled_stock(
    dbs: Databases, sku: str, expected: int, grace: float
) -> tuple[int, int, int]:
    """Commits follow confirmations: wait (at most `grace`) until `expected` are in."""
    return await eventually(lambda: stock_figures(dbs, sku), lambda f: f[0] >= expected, grace)
