from __future__ import annotations

import itertools

import pytest

from order_service.domain import (
    TRANSITIONS,
    CatalogPrice,
    OrderRuleError,
    OrderStatus,
    Reason,
    SagaStep,
    Trigger,
    cancellation,
    merge_quantities,
    next_state,
    payment_failure_reason,
    price_order,
)

P, C, R, X = OrderStatus.PENDING, OrderStatus.CONFIRMED, OrderStatus.REJECTED, OrderStatus.CANCELLED
STOCK, PAY, DONE = SagaStep.AWAITING_STOCK, SagaStep.AWAITING_PAYMENT, SagaStep.DONE

ALLOWED = {
    (P, STOCK, Trigger.STOCK_RESERVED): (P, PAY),
    (P, STOCK, Trigger.STOCK_REJECTED): (R, DONE),
    (P, PAY, Trigger.PAYMENT_AUTHORIZED): (C, DONE),
    (P, PAY, Trigger.PAYMENT_FAILED): (R, DONE),
    (P, STOCK, Trigger.TIMEOUT): (X, DONE),
    (P, PAY, Trigger.TIMEOUT): (X, DONE),
    (P, STOCK, Trigger.CUSTOMER_CANCEL): (X, DONE),
    (P, PAY, Trigger.CUSTOMER_CANCEL): (X, DONE),
    (C, DONE, Trigger.CUSTOMER_CANCEL): (X, DONE),
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


@pytest.mark.parametrize("status", [R, X, OrderStatus.SHIPPED, OrderStatus.COMPLETED])
def test_terminal_or_shipped_orders_cannot_be_cancelled(status: OrderStatus) -> None:
    with pytest.raises(OrderRuleError):
        cancellation(status, DONE)


def test_a_late_authorisation_after_timeout_changes_nothing() -> None:
    assert next_state(X, DONE, Trigger.PAYMENT_AUTHORIZED) is None


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
    with pytest.raises(OrderRuleError) as caught:
        price_order(items, PRICES, "CNY")
    assert caught.value.code == code


def test_merge_keeps_first_seen_order() -> None:
    assert merge_quantities([("B", 1), ("A", 2), ("B", 3)]) == [("B", 4), ("A", 2)]
