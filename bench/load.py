"""One open-loop step: orders arrive on a fixed schedule at the offered rate, whatever the
suite answers, from the whole pool of members, each followed by `views_per_order` storefront
product views of the same member spread evenly until the next order (the browsing of a
storefront funnel, which catalog publishes as analytics facts); then the figures of that step."""

from __future__ import annotations

import asyncio
import math
import random
import time
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from bench.stats import percentile
from bench.storefront import TRANSPORT_ERRORS, Headers, Storefront
from bench.tracker import OrderTracker

STEADY_SHARE = 2 / 3  # of a step's window, after the pipeline has filled


@dataclass
class Sent:
    started: float  # perf_counter just before the POST
    answered: float = 0.0
    order_id: str | None = None  # set on a 2xx
    status: str = ""  # HTTP status, or the exception's name
    detail: str = ""  # the start of a refusal's problem detail


@dataclass(slots=True)
class Viewed:
    started: float  # perf_counter just before the GET
    answered: float = 0.0
    status: str = ""  # HTTP status, or the exception's name


@dataclass
class StepRun:
    rate: float  # orders/s
    seconds: float
    views_per_order: int = 0
    began: float = 0.0
    sent: list[Sent] = field(default_factory=list)
    views: list[Viewed] = field(default_factory=list)
    max_lag: float = 0.0  # how late the schedule ran at worst (client-side saturation)

    @property
    def accepted(self) -> list[Sent]:
        return [s for s in self.sent if s.order_id]


async def send(store: Storefront, member: Headers, sku: str, sent: Sent) -> None:
    try:
        response = await store.place(member, sku)
        sent.status = str(response.status_code)
        if response.is_success:
            sent.order_id = response.json()["order_id"]
        else:
            sent.detail = response.text[:200]
    except TRANSPORT_ERRORS as exc:
        sent.status, sent.detail = type(exc).__name__, str(exc)[:200]
    sent.answered = time.perf_counter()


async def view(store: Storefront, member: Headers, product_id: str, sku: str, v: Viewed) -> None:
    # Only the status is kept: the driver's CPU counts against the suite's.
    try:
        v.status = str((await store.view(member, product_id, sku)).status_code)
    except TRANSPORT_ERRORS as exc:
        v.status = type(exc).__name__
    v.answered = time.perf_counter()


async def run_step(
    store: Storefront,
    members: list[Headers],
    skus: list[str],
    run: StepRun,
    product_ids: Mapping[str, str] | None = None,
) -> None:
    """Order k at `run.began + k / rate` (the same schedule whatever the views), its member's
    views at the `views_per_order` equal slots before order k + 1, of random products among the
    SKUs (`product_ids`: SKU -> product id). Every request runs as its own task."""
    per_order = run.views_per_order + 1
    ids = product_ids or {}
    if run.views_per_order and not all(sku in ids for sku in skus):
        raise ValueError("views need the product id of each SKU")
    pace = run.rate * per_order
    run.began = time.perf_counter()
    tasks = []
    member = members[0]
    for i in range(int(run.rate * run.seconds) * per_order):
        due = run.began + i / pace
        if (wait := due - time.perf_counter()) > 0:
            await asyncio.sleep(wait)
        run.max_lag = max(run.max_lag, time.perf_counter() - due)
        sku = random.choice(skus)
        if i % per_order == 0:
            member = random.choice(members)
            sent = Sent(time.perf_counter())
            run.sent.append(sent)
            tasks.append(asyncio.create_task(send(store, member, sku, sent)))
        else:
            viewed = Viewed(time.perf_counter())
            run.views.append(viewed)
            tasks.append(asyncio.create_task(view(store, member, ids[sku], sku, viewed)))
    await asyncio.gather(*tasks)


@dataclass
class StepFigures:
    offered_per_s: float
    placed_per_s: float
    confirmed_per_s: float
    p50_ms: float
    p95_ms: float
    p99_ms: float
    sent: int
    accepted: int
    confirmed: int
    rejected: dict[str, int]
    unfinished: int
    http_errors: dict[str, int]
    max_schedule_lag_ms: float
    error_samples: dict[str, str] = field(default_factory=dict)  # one detail per status
    hops_p50_ms: dict[str, float] = field(default_factory=dict)
    compensated: dict[str, int] = field(default_factory=dict)
    cpu_seconds: dict[str, float] = field(default_factory=dict)
    cpu_window_seconds: float = 0.0  # what cpu_seconds was measured over (load + last answers)
    # The load window plus the drain (until the step's orders are decided and the suite is
    # back near idle): what "CPU ms per confirmed order" is computed from.
    cpu_drained_seconds: dict[str, float] = field(default_factory=dict)
    cpu_drained_window_seconds: float = 0.0
    cpu_notes: dict[str, list[str]] = field(default_factory=dict)  # what could not be counted
    idle_cores: float = 0.0  # the idle suite's CPU rate, for the idle share of the figure
    # Storefront product views sent alongside (--views-per-order): views/s is 200 answers over
    # the time until the last view's answer (at least the step), latency GET to answer of those.
    views_per_order: int = 0
    views: int = 0
    views_per_s: float = 0.0
    views_p50_ms: float = math.nan
    views_p99_ms: float = math.nan
    view_errors: dict[str, int] = field(default_factory=dict)  # non-200 status or exception

    def cpu_ms_per_order(self) -> dict[str, float]:
        """CPU ms per confirmed order of this step, by process, over load window + drain."""
        if not self.confirmed:
            return {name: float("nan") for name in self.cpu_drained_seconds}
        return {k: v * 1000 / self.confirmed for k, v in self.cpu_drained_seconds.items()}


def step_figures(run: StepRun, tracker: OrderTracker) -> StepFigures:
    """Placed/s: 2xx answers over the time until the last answer (at least the step).
    Confirmed/s: confirmations that arrived in the steady part of the step (its last two
    thirds: the first third fills the pipeline), whichever step placed them. Latency: request
    start to the confirmation event, per confirmed order of this step; an order without any
    outcome counts as infinitely slow."""
    accepted = run.accepted
    window_end = run.began + run.seconds
    steady_from = run.began + run.seconds * (1 - STEADY_SHARE)
    last_answer = max((s.answered for s in run.sent), default=window_end)
    steady = sum(
        1
        for o in tracker.outcomes.values()
        if o.status == "CONFIRMED" and steady_from <= o.at < window_end
    )
    latencies, rejected, unfinished = [], Counter[str](), 0
    for sent in accepted:
        outcome = tracker.outcomes.get(sent.order_id or "")
        if outcome is None:
            unfinished += 1
            latencies.append(float("inf"))
        elif outcome.status == "CONFIRMED":
            latencies.append(outcome.at - sent.started)
        else:
            rejected[f"{outcome.status}:{outcome.reason}"] += 1
    return StepFigures(
        offered_per_s=run.rate,
        placed_per_s=len(accepted) / max(run.seconds, last_answer - run.began),
        confirmed_per_s=steady / (run.seconds * STEADY_SHARE),
        p50_ms=percentile(latencies, 50) * 1000,
        p95_ms=percentile(latencies, 95) * 1000,
        p99_ms=percentile(latencies, 99) * 1000,
        sent=len(run.sent),
        accepted=len(accepted),
        confirmed=sum(1 for x in latencies if x != float("inf")),
        rejected=dict(rejected),
        unfinished=unfinished,
        http_errors=dict(Counter(s.status for s in run.sent if not s.order_id)),
        max_schedule_lag_ms=run.max_lag * 1000,
        error_samples={s.status: s.detail for s in run.sent if not s.order_id},
        hops_p50_ms=hops(accepted, tracker),
        **view_figures(run),
    )


def view_figures(run: StepRun) -> dict[str, Any]:
    """The step's product views: sent, 200 answers per second, their p50/p99, the others."""
    ok = [v.answered - v.started for v in run.views if v.status == "200"]
    last_answer = max((v.answered for v in run.views), default=run.began + run.seconds)
    return {
        "views_per_order": run.views_per_order,
        "views": len(run.views),
        "views_per_s": len(ok) / max(run.seconds, last_answer - run.began),
        "views_p50_ms": percentile(ok, 50) * 1000,
        "views_p99_ms": percentile(ok, 99) * 1000,
        "view_errors": dict(Counter(v.status for v in run.views if v.status != "200")),
    }


HOPS = (
    ("POST→placed", None, "order.order.placed"),  # HTTP, the order's transaction, the relay
    ("placed→reserved", "order.order.placed", "order.payment.requested"),  # inventory
    ("reserved→confirmed", "order.payment.requested", None),  # payment
)


def hops(accepted: list[Sent], tracker: OrderTracker) -> dict[str, float]:
    """Median time of each saga hop over the orders seen at both of its ends (arrival times)."""

    def at(sent: Sent, milestone: str | None, start: bool) -> float | None:
        if milestone is None:
            outcome = tracker.outcomes.get(sent.order_id or "")
            return sent.started if start else (outcome.at if outcome else None)
        return tracker.milestones[milestone].get(sent.order_id or "")

    figures = {}
    for name, begin, end in HOPS:
        spans = [
            b - a
            for s in accepted
            if (a := at(s, begin, True)) is not None and (b := at(s, end, False)) is not None
        ]
        figures[name] = percentile(spans, 50) * 1000
    return figures
