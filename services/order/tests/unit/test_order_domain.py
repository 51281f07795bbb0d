from __future__ import annotations

import itertools
from datetime import UTC, datetime, timedelta

import pytest

from chassis.rules import RuleError
from order_service.domain.pricing import (
    Benefits,
    CatalogPrice,
    Coupon,
    PricedLine,
    PricingRules,
    Quote,
    apply_benefits,
    merge_quantities,
    percent_of,
    price_order,
)
from order_service.domain.saga import (
    TRANSITIONS,
    OrderStatus,
    Reason,
    SagaStep,
    Trigger,
    cancellation,
    fulfilment,
    next_state,
    payment_failure_reason,
    return_request,
)

P, C, R, X = OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED
SH, DL, CO = OrderStatus.SHIPPED, OrderStatus.DELIVERED, OrderStatus.COMPLETED
BOTH, STOCK, BEN = (
    SagaStep.AWAITING_STOCK_AND_BENEFITS,
    SagaStep.AWAITING_STOCK,
    SagaStep.AWAITING_BENEFITS,
)
PAY, DONE = SagaStep.AWAITING_PAYMENT, SagaStep.DONE
T = Trigger

ALLOWED = {
    (P, BOTH, T.STOCK_RESERVED): (P, BEN),
    (P, BOTH, T.BENEFITS_HELD): (P, STOCK),
    (P, BOTH, T.STOCK_REJECTED): (R, DONE),
    (P, BOTH, T.BENEFITS_REJECTED): (R, DONE),
    (P, STOCK, T.STOCK_RESERVED): (P, PAY),
    (P, STOCK, T.STOCK_REJECTED): (R, DONE),
    (P, BEN, T.BENEFITS_HELD): (P, PAY),
    (P, BEN, T.BENEFITS_REJECTED): (R, DONE),
    (P, PAY, T.PAYMENT_AUTHORIZED): (C, DONE),
    (P, PAY, T.PAYMENT_FAILED): (R, DONE),
    **{
        (P, step, trigger): (X, DONE)
        for step in (BOTH, STOCK, BEN, PAY)
        for trigger in (T.TIMEOUT, T.CUSTOMER_CANCEL)
    },
    (C, DONE, T.CUSTOMER_CANCEL): (X, DONE),
    (C, DONE, T.STOCK_REJECTED): (X, DONE),
    **{(P, step, T.STOCK_WITHDRAWN): (X, DONE) for step in (BOTH, STOCK, BEN, PAY)},
    (C, DONE, T.STOCK_WITHDRAWN): (X, DONE),
    (C, DONE, T.SHIP): (SH, DONE),
    (SH, DONE, T.DELIVER): (DL, DONE),
    (DL, DONE, T.COMPLETE): (CO, DONE),
    (DL, DONE, T.RETURN): (OrderStatus.REFUNDED, DONE),
    (CO, DONE, T.RETURN): (OrderStatus.REFUNDED, DONE),
}


def test_the_transition_table_is_exactly_the_documented_one() -> None:
    assert TRANSITIONS == ALLOWED


@pytest.mark.parametrize(
    ("status", "step", "trigger"),
    [key for key in itertools.product(OrderStatus, SagaStep, Trigger) if key not in ALLOWED],
)
def test_every_other_combination_is_ignored(
    status: OrderStatus, step: SagaStep, trigger: Trigger
) -> None:
    assert next_state(status, step, trigger) is None


@pytest.mark.parametrize("status", [R, X, SH, DL, CO])
def test_terminal_or_shipped_orders_cannot_be_cancelled(status: OrderStatus) -> None:
    with pytest.raises(RuleError):
        cancellation(status, DONE)


def test_a_late_authorisation_after_timeout_changes_nothing() -> None:
    assert next_state(X, DONE, Trigger.PAYMENT_AUTHORIZED) is None


@pytest.mark.parametrize("status", [R, X, SH, DL, CO, OrderStatus.REFUNDED])
def test_stock_rejected_after_confirmation_leaves_shipped_or_terminal_orders_alone(
    status: OrderStatus,
) -> None:
    assert next_state(status, DONE, Trigger.STOCK_REJECTED) is None


@pytest.mark.parametrize("status", [R, X, SH, DL, CO, OrderStatus.REFUNDED])
def test_a_withdrawn_lot_leaves_shipped_or_terminal_orders_alone(status: OrderStatus) -> None:
    assert next_state(status, DONE, Trigger.STOCK_WITHDRAWN) is None


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("PAYMENT_DECLINED", Reason.PAYMENT_DECLINED),
        ("INSUFFICIENT_FUNDS", Reason.INSUFFICIENT_FUNDS),
        ("RISK_REJECTED", Reason.RISK_REJECTED),
        ("SOMETHING_NEW", Reason.PAYMENT_FAILED),
    ],
)
def test_payment_reasons_map_to_order_reasons(reason: str, expected: Reason) -> None:
    assert payment_failure_reason(reason) is expected


PRICES = {
    "TEA": CatalogPrice("TEA", "p1", "Tea", 6800, "CNY", True),
    "CUP": CatalogPrice("CUP", "p2", "Cup", 1250, "CNY", True),
    "OLD": CatalogPrice("OLD", "p3", "Old", 100, "CNY", False),
    "USD": CatalogPrice("USD", "p4", "Import", 999, "USD", True),
}


def test_lines_are_priced_in_minor_units_and_merged() -> None:
    quote = price_order([("TEA", 2), ("CUP", 1), ("TEA", 1)], PRICES, "CNY")
    assert [(line.sku, line.quantity, line.line_amount) for line in quote.lines] == [
        ("TEA", 3, 20400),
        ("CUP", 1, 1250),
    ]
    assert (quote.subtotal, quote.discount, quote.total) == (21650, 0, 21650)


@pytest.mark.parametrize(
    ("items", "code"),
    [
        ([("NOPE", 1)], "unknown-sku"),
        ([("OLD", 1)], "unknown-sku"),
        ([("USD", 1)], "currency-mismatch"),
    ],
)
def test_unsellable_lines_are_refused(items: list[tuple[str, int]], code: str) -> None:
    with pytest.raises(RuleError) as caught:
        price_order(items, PRICES, "CNY")
    assert caught.value.code == code


def test_merge_keeps_first_seen_order() -> None:
    assert merge_quantities([("B", 1), ("A", 2), ("B", 3)]) == [("B", 4), ("A", 2)]


def test_fulfilment_follows_the_table() -> None:
    assert fulfilment(C, "ship") == (SH, DONE)
    assert fulfilment(SH, "deliver") == (DL, DONE)
    assert fulfilment(DL, "complete") == (CO, DONE)
    with pytest.raises(RuleError):
        fulfilment(P, "ship")
    with pytest.raises(RuleError):
        fulfilment(C, "complete")


NOW = datetime(2026, 11, 22, tzinfo=UTC)
WELCOME = Coupon(
    "WELCOME", "m1", 1000, 5000, "CNY", NOW - timedelta(days=1), NOW + timedelta(days=29)
)
RULES = PricingRules()


def quote(subtotal: int) -> Quote:
    line = PricedLine("TEA", "p1", "Tea", 1, subtotal)
    return Quote(lines=(line,), currency="CNY", subtotal=subtotal)


def test_benefits_apply_tier_then_coupon_then_points() -> None:
    priced = apply_benefits(
        quote(20000), Benefits(5, WELCOME, 3000), RULES, now=NOW, member_id="m1"
    )
    # 5 % of 200.00 = 10.00; coupon 10.00 off the 190.00 left; 3000 points = 30.00.
    assert (priced.tier_discount, priced.coupon_discount, priced.points_discount) == (
        1000,
        1000,
        3000,
    )
    assert priced.total == 15000 and priced.discount == 5000 and priced.coupon_code == "WELCOME"


def test_member_price_rounds_half_up_to_the_fen() -> None:
    assert percent_of(1250, 2) == 25 and percent_of(1225, 2) == 25 and percent_of(1275, 2) == 26


@pytest.mark.parametrize(
    ("benefits", "member", "subtotal", "code"),
    [
        (Benefits(coupon=WELCOME), "someone-else", 20000, "coupon-invalid"),
        (Benefits(coupon=WELCOME), "m1", 4999, "coupon-invalid"),
        (Benefits(points=5001), "m1", 10000, "too-many-points"),
    ],
)
def test_benefits_that_do_not_apply_are_refused(
    benefits: Benefits, member: str, subtotal: int, code: str
) -> None:
    with pytest.raises(RuleError) as caught:
        apply_benefits(quote(subtotal), benefits, RULES, now=NOW, member_id=member)
    assert caught.value.code == code


def test_another_members_coupon_is_refused_before_the_currency_is_looked_at() -> None:
    # An order in USD: the member's own coupon gets the currency rule, anyone else's gets the
    # words an unknown code gets, so the answer tells nothing of which codes exist.
    usd = Quote(lines=quote(20000).lines, currency="USD", subtotal=20000)
    with pytest.raises(RuleError) as foreign:
        apply_benefits(usd, Benefits(coupon=WELCOME), RULES, now=NOW, member_id="someone-else")
    assert (foreign.value.code, foreign.value.detail) == (
        "coupon-invalid",
        "coupon WELCOME cannot be used",
    )
    with pytest.raises(RuleError) as own:
        apply_benefits(usd, Benefits(coupon=WELCOME), RULES, now=NOW, member_id="m1")
    assert own.value.code == "benefits-currency"


def test_points_may_cover_half_of_what_is_left() -> None:
    priced = apply_benefits(quote(10000), Benefits(points=5000), RULES, now=NOW, member_id="m1")
    assert priced.total == 5000


def test_an_expired_coupon_is_refused() -> None:
    with pytest.raises(RuleError):
        apply_benefits(
            quote(20000),
            Benefits(coupon=WELCOME),
            RULES,
            now=NOW + timedelta(days=40),
            member_id="m1",
        )


DELIVERED_AT = datetime(2026, 11, 20, 9, 0, tzinfo=UTC)
WEEK = timedelta(days=7)


@pytest.mark.parametrize("status", [DL, CO])
def test_a_delivered_order_may_be_returned_within_the_window(status: OrderStatus) -> None:
    on_the_last_day = DELIVERED_AT + WEEK
    assert return_request(status, DELIVERED_AT, on_the_last_day, WEEK) == (
        OrderStatus.REFUNDED,
        DONE,
    )


def test_a_return_after_the_window_is_refused() -> None:
    with pytest.raises(RuleError) as refused:
        return_request(DL, DELIVERED_AT, DELIVERED_AT + WEEK + timedelta(seconds=1), WEEK)
    assert refused.value.code == "return-window-closed"


def test_a_recalled_order_is_returnable_after_the_window() -> None:
    years_later = DELIVERED_AT + timedelta(days=400)
    assert return_request(DL, DELIVERED_AT, years_later, WEEK, recalled=True) == (
        OrderStatus.REFUNDED,
        DONE,
    )


@pytest.mark.parametrize("status", [P, C, SH, OrderStatus.REFUNDED])
def test_a_recalled_order_is_still_returned_only_once_delivered(status: OrderStatus) -> None:
    with pytest.raises(RuleError) as refused:
        return_request(status, DELIVERED_AT, DELIVERED_AT, WEEK, recalled=True)
    assert refused.value.code == "not-returnable"


@pytest.mark.parametrize("status", [P, C, R, X, SH, OrderStatus.REFUNDED])
def test_only_delivered_orders_can_be_returned(status: OrderStatus) -> None:
    with pytest.raises(RuleError) as refused:
        return_request(status, DELIVERED_AT, DELIVERED_AT, WEEK)
    assert refused.value.code == "not-returnable"
