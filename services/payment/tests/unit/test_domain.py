from __future__ import annotations

from fractions import Fraction
from itertools import pairwise

import pytest

from chassis.rules import RuleError
from payment_service.domain.cards import mask_token
from payment_service.domain.currency import convert, converted_part, rate
from payment_service.domain.intents import (
    TRANSITIONS,
    Action,
    Intent,
    IntentStatus,
    already_done,
    compensation,
    ended_first,
    next_status,
)
from payment_service.domain.risk import RiskLimits, risk_rejection

RATES = {("USD", "CNY"): 7_100_000, ("EUR", "CNY"): 7_700_000}
Status = IntentStatus

# The whole lifecycle, spelled out: (from, action) -> to.
ALLOWED = [
    (Status.PENDING, Action.AUTHORIZE, Status.AUTHORIZED),
    (Status.PENDING, Action.FAIL, Status.FAILED),
    (Status.AUTHORIZED, Action.CAPTURE, Status.CAPTURED),
    (Status.AUTHORIZED, Action.VOID, Status.VOIDED),
    (Status.CAPTURED, Action.REFUND, Status.REFUNDED),
    (Status.PARTIALLY_REFUNDED, Action.REFUND, Status.REFUNDED),
]


@pytest.mark.parametrize(("current", "action", "expected"), ALLOWED)
def test_allowed_transitions(current: Status, action: Action, expected: Status) -> None:
    assert next_status(current, action) is expected


def test_the_table_has_nothing_else() -> None:
    assert {(c, a): t for c, a, t in ALLOWED} == TRANSITIONS


@pytest.mark.parametrize("action", list(Action))
@pytest.mark.parametrize("current", list(IntentStatus))
def test_every_other_transition_is_refused(current: Status, action: Action) -> None:
    if (current, action) in TRANSITIONS:
        return
    with pytest.raises(RuleError) as caught:
        next_status(current, action)
    assert caught.value.code == "invalid-transition"


@pytest.mark.parametrize(
    ("current", "action", "done"),
    [
        (Status.CAPTURED, Action.CAPTURE, True),
        (Status.REFUNDED, Action.CAPTURE, True),
        (Status.PARTIALLY_REFUNDED, Action.CAPTURE, True),
        (Status.AUTHORIZED, Action.CAPTURE, False),
        (Status.VOIDED, Action.CAPTURE, False),  # not done: refused by the state machine instead
        (Status.VOIDED, Action.VOID, True),
        (Status.REFUNDED, Action.REFUND, True),
        (Status.PARTIALLY_REFUNDED, Action.REFUND, False),
    ],
)
def test_a_repeated_action_is_recognised_by_state(
    current: Status, action: Action, done: bool
) -> None:
    assert already_done(current, action) is done


@pytest.mark.parametrize(
    ("current", "cancelled", "expected"),
    [
        (Status.AUTHORIZED, True, Action.VOID),
        (Status.AUTHORIZED, False, Action.VOID),
        (Status.CAPTURED, True, Action.REFUND),
        (Status.PARTIALLY_REFUNDED, True, Action.REFUND),
        (Status.CAPTURED, False, None),  # a rejected order was never confirmed, so never captured
        (Status.PENDING, True, None),
        (Status.FAILED, True, None),
        (Status.VOIDED, True, None),
        (Status.REFUNDED, True, None),
    ],
)
def test_what_an_ended_order_compensates(
    current: Status, cancelled: bool, expected: Action
) -> None:
    assert compensation(current, order_was_cancelled=cancelled) is expected


def test_the_money_moves_with_the_state() -> None:
    captured = Intent(Status.PENDING, 10_000).authorize().capture()
    assert (captured.status, captured.captured, captured.refundable) == (
        Status.CAPTURED,
        10_000,
        10_000,
    )
    partly = captured.refund(3_000)
    assert (partly.status, partly.refunded) == (Status.PARTIALLY_REFUNDED, 3_000)
    full = partly.refund(7_000)
    assert (full.status, full.refunded, full.refundable) == (Status.REFUNDED, 10_000, 0)
    voided = Intent(Status.PENDING, 500).authorize().void()
    assert (voided.status, voided.captured) == (Status.VOIDED, 0)


@pytest.mark.parametrize("amount", [0, -1, 7_001])
def test_a_refund_never_exceeds_what_is_left(amount: int) -> None:
    captured = Intent(Status.CAPTURED, 10_000, captured=10_000, refunded=3_000)
    with pytest.raises(RuleError) as caught:
        captured.refund(amount)
    assert caught.value.code == "invalid-refund"


@pytest.mark.parametrize(
    ("amount", "captured", "refunded"),
    [(100, 101, 0), (100, 50, 51), (-1, 0, 0), (100, -1, 0), (1.5, 0, 0), (True, 0, 0)],
)
def test_amounts_out_of_order_are_refused(amount: object, captured: int, refunded: int) -> None:
    with pytest.raises(RuleError):
        Intent(Status.CAPTURED, amount, captured, refunded)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("amount", "source", "target", "expected"),
    [
        (100, "USD", "CNY", 710),  # 1.00 USD = 7.10 CNY
        (100, "EUR", "CNY", 770),
        (1, "USD", "CNY", 7),  # 0.071 -> 0.07
        (1, "EUR", "CNY", 8),  # 0.077 -> 0.08
        # Exactly half a fen: to the even neighbour.
        (5, "USD", "CNY", 36),  # 0.355 -> 0.36
        (15, "USD", "CNY", 106),  # 1.065 -> 1.06
        (25, "USD", "CNY", 178),  # 1.775 -> 1.78
        (35, "USD", "CNY", 248),  # 2.485 -> 2.48
        (704_225, "USD", "CNY", 4_999_998),  # 49,999.975 -> 49,999.98
        # Inverse and cross rates: exact, rounded once at the end.
        (710, "CNY", "USD", 100),
        (1, "CNY", "USD", 0),  # 0.0014 USD
        (100, "USD", "EUR", 92),  # 7.10 / 7.70 = 0.922...
        (77, "CNY", "EUR", 10),
        (12_345, "CNY", "CNY", 12_345),
        (0, "EUR", "USD", 0),
    ],
)
def test_convert_rounds_half_to_even(amount: int, source: str, target: str, expected: int) -> None:
    assert convert(amount, source, target, RATES) == expected


def test_half_cent_cross_rate_rounds_to_even() -> None:
    # 1 USD = 2.00 EUR (through CNY): 0.25 EUR is 0.125 USD -> 0.12, 0.75 EUR is 0.375 -> 0.38.
    rates = {("USD", "CNY"): 2_000_000, ("EUR", "CNY"): 1_000_000}
    assert rate("EUR", "USD", rates) == Fraction(1, 2)
    assert convert(25, "EUR", "USD", rates) == 12
    assert convert(75, "EUR", "USD", rates) == 38


def test_the_whole_converts_to_the_authorised_value_and_parts_add_up() -> None:
    # 123.45 USD authorised at 7.10: 876.495 CNY -> 876.50 (half to even).
    amount, amount_cny = 12_345, convert(12_345, "USD", "CNY", RATES)
    assert amount_cny == 87_650
    assert converted_part(amount, amount_cny, amount) == amount_cny
    assert converted_part(amount, amount_cny, 0) == 0
    # Refunds in three steps: the differences of the cumulative values add up to the whole.
    steps = [0, 1, 5_000, amount]
    parts = [
        converted_part(amount, amount_cny, upto) - converted_part(amount, amount_cny, after)
        for after, upto in pairwise(steps)
    ]
    assert parts == [7, 35_493, 52_150] and sum(parts) == amount_cny
    assert converted_part(0, 0, 0) == 0  # a zero-amount payment


@pytest.mark.parametrize("upto", [-1, 12_346])
def test_a_part_outside_the_amount_is_refused(upto: int) -> None:
    with pytest.raises(RuleError):
        converted_part(12_345, 87_650, upto)


@pytest.mark.parametrize(
    ("source", "target", "rates", "code"),
    [
        ("GBP", "CNY", RATES, "unsupported-currency"),
        ("CNY", "JPY", RATES, "unsupported-currency"),
        ("USD", "CNY", {}, "no-rate"),
        ("USD", "EUR", {("USD", "CNY"): 7_100_000}, "no-rate"),
    ],
)
def test_convert_refuses_what_it_cannot_price(
    source: str, target: str, rates: dict[tuple[str, str], int], code: str
) -> None:
    with pytest.raises(RuleError) as caught:
        convert(100, source, target, rates)
    assert caught.value.code == code


LIMITS = RiskLimits(max_amount_cny=5_000_000, velocity_max=10, velocity_window_seconds=3600)


@pytest.mark.parametrize(
    ("amount_cny", "recent", "rejected"),
    [
        (5_000_000, 0, False),  # exactly the maximum is allowed
        (5_000_001, 0, True),
        (0, 9, False),  # the tenth payment in the window
        (100, 10, True),  # the eleventh
        (5_000_001, 10, True),
    ],
)
def test_risk_rules(amount_cny: int, recent: int, rejected: bool) -> None:
    assert (risk_rejection(amount_cny, recent, LIMITS) is not None) is rejected


def test_the_risk_limit_applies_to_the_converted_amount() -> None:
    assert risk_rejection(convert(704_225, "USD", "CNY", RATES), 0, LIMITS) is None
    assert risk_rejection(convert(704_226, "USD", "CNY", RATES), 0, LIMITS) is not None
    assert risk_rejection(convert(649_351, "EUR", "CNY", RATES), 0, LIMITS) is not None


@pytest.mark.parametrize(
    ("token", "hint"),
    [("tok_visa", "tok_…isa"), ("tok_1NvAbCdEfGhIjKlM", "tok_…KlM"), ("tok", "…")],
)
def test_tokens_are_masked(token: str, hint: str) -> None:
    assert mask_token(token) == hint


@pytest.mark.parametrize("current", list(IntentStatus))
def test_a_capture_after_the_payment_ended_is_moot(current: Status) -> None:
    """A confirmation delivered after the void is dropped, not refused; one after a failed
    payment (no order is confirmed then) is still refused, for operators to see."""
    moot = ended_first(current, Action.CAPTURE)
    assert moot == (current is Status.VOIDED)
    assert not (moot and already_done(current, Action.CAPTURE))
    assert not ended_first(current, Action.REFUND)
