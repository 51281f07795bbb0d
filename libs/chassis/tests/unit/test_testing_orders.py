"""chassis.testing.orders: order events for other services' tests, with totals that add up."""

from __future__ import annotations

from chassis.testing import orders
from chassis.testing.orders import money


def test_an_order_adds_up_its_lines_less_the_discount() -> None:
    line = orders.order_line("TEA-250", 3, 1_200)
    assert (line.product_id, line.name, line.line_total) == (
        "p-TEA-250",
        "Product TEA-250",
        money(3_600),
    )
    placed = orders.order_placed(
        "o-1", [line, orders.order_line("JAM", 1)], member_id="m-1", discount=600
    )
    assert (placed.subtotal, placed.discount, placed.total) == (
        money(4_600),
        money(600),
        money(4_000),
    )
    assert (placed.member_id, placed.currency, placed.coupon_code, placed.points) == (
        "m-1",
        "CNY",
        None,
        0,
    )


def test_an_order_without_lines_takes_its_subtotal() -> None:
    placed = orders.order_placed(
        "o-2", subtotal=20_000, discount=1_500, coupon_code="C", points=500
    )
    assert (placed.items, placed.total, placed.coupon_code, placed.points) == (
        [],
        money(18_500),
        "C",
        500,
    )


def test_the_rest_of_an_order_life_has_plain_defaults() -> None:
    assert orders.order_confirmed("o-3").total == money(1_000)
    assert orders.order_confirmed("o-3", member_id="m-3", total=5).member_id == "m-3"
    assert (orders.order_rejected("o-3").reason, orders.order_cancelled("o-3").was_confirmed) == (
        "X",
        True,
    )
    assert orders.order_returned("o-3", total=700).total == money(700)
