"""bench/orders.py's product views (issue 12): the option's parsing, and a step's schedule (each
order's member views products between its orders, orders on the schedule they had without
views) and figures, against a stand-in storefront (no suite)."""

from __future__ import annotations

import json
import math

import pytest

from bench.load import StepRun, run_step, view_figures
from bench.orders import Options, parse_options
from bench.report import plain
from bench.storefront import Headers, Reply


class Shop:
    """Answers orders 201 and views 200, except views of `missing` (404)."""

    def __init__(self, missing: str = "") -> None:
        self.missing = missing
        self.calls: list[tuple[str, str, str]] = []  # (kind, member, product or sku)

    async def place(self, member: Headers, sku: str) -> Reply:
        self.calls.append(("order", member["Authorization"], sku))
        body = json.dumps({"order_id": f"o-{len(self.calls)}"}).encode()
        return Reply("POST", "/api/v1/orders", 201, {}, body)

    async def view(self, member: Headers, product_id: str, sku: str) -> Reply:
        self.calls.append(("view", member["Authorization"], product_id))
        status = 404 if product_id == self.missing else 200
        return Reply("GET", f"/api/v1/products/{product_id}", status, {}, b"{}")


def test_four_views_per_order_by_default_and_zero_is_orders_only() -> None:
    assert parse_options([]).views_per_order == 4
    assert parse_options(["--quick"]).views_per_order == 4
    assert parse_options(["--views-per-order", "0"]).views_per_order == 0
    chosen = parse_options(["--quick", "--views-per-order", "2", "--env", "A=b=c"])
    assert (chosen.views_per_order, chosen.env) == (2, {"A": "b=c"})


@pytest.mark.parametrize("value", ["-1", "two"])
def test_a_views_per_order_that_is_not_a_count_is_refused(value: str) -> None:
    with pytest.raises(SystemExit):
        parse_options(["--views-per-order", value])


async def test_each_order_s_member_views_products_between_its_orders() -> None:
    members = [{"Authorization": f"Bearer m{n}"} for n in range(3)]
    products = {"SKU-A": "p-a", "SKU-B": "p-b"}
    shop, run = Shop(), StepRun(rate=100, seconds=0.2, views_per_order=3)
    await run_step(shop, members, list(products), run, products)  # type: ignore[arg-type]

    assert len(run.sent) == 20 and len(run.views) == 60
    assert all(s.order_id for s in run.sent)
    # Calls start in schedule order (each task runs to its request before the next arrival).
    for order_at in range(0, len(shop.calls), 4):
        kinds = [kind for kind, _, _ in shop.calls[order_at : order_at + 4]]
        assert kinds == ["order", "view", "view", "view"]
        assert len({member for _, member, _ in shop.calls[order_at : order_at + 4]}) == 1
    assert {p for kind, _, p in shop.calls if kind == "view"} <= set(products.values())
    # Orders keep the schedule they had without views: order k not before k / rate.
    offsets = [s.started - run.began for s in run.sent]
    assert all(at >= k / 100 - 0.002 for k, at in enumerate(offsets))

    figures = view_figures(run)
    assert figures["views"] == 60 and figures["view_errors"] == {}
    assert figures["views_per_s"] > 0 and figures["views_p50_ms"] <= figures["views_p99_ms"]


async def test_views_that_fail_are_counted_as_errors_not_latency() -> None:
    shop, run = Shop(missing="p-b"), StepRun(rate=50, seconds=0.2, views_per_order=4)
    member = [{"Authorization": "Bearer m"}]
    await run_step(shop, member, ["SKU-B"], run, {"SKU-B": "p-b"})  # type: ignore[arg-type]
    figures = view_figures(run)
    assert figures["views"] == 40 and figures["view_errors"] == {"404": 40}
    assert figures["views_per_s"] == 0 and math.isnan(figures["views_p99_ms"])


async def test_no_views_is_the_old_step_and_its_figures_are_empty() -> None:
    shop, run = Shop(), StepRun(rate=50, seconds=0.1)
    await run_step(shop, [{"Authorization": "Bearer m"}], ["SKU-A"], run)  # type: ignore[arg-type]
    assert [kind for kind, _, _ in shop.calls] == ["order"] * 5
    figures = view_figures(run)
    assert figures["views"] == 0 and math.isnan(figures["views_p99_ms"])
    assert plain(figures)["views_p99_ms"] is None  # JSON null, not NaN


async def test_views_without_the_product_of_each_sku_are_refused() -> None:
    run = StepRun(rate=10, seconds=0.1, views_per_order=1)
    member = [{"Authorization": "Bearer m"}]
    with pytest.raises(ValueError, match="product id"):
        await run_step(Shop(), member, ["SKU-A"], run, {})  # type: ignore[arg-type]


def test_the_option_is_recorded_with_the_run() -> None:
    assert plain({"options": Options(views_per_order=2)})["options"]["views_per_order"] == 2
