"""Payment rules: the intent state machine, currency conversion and risk. No I/O here.

Money is always an integer of minor units (fen, cents) with its ISO 4217 code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

# Minor-unit exponent per supported currency: all three have 2 decimals.
MINOR_UNITS: dict[str, int] = {"CNY": 2, "USD": 2, "EUR": 2}
SUPPORTED_CURRENCIES = frozenset(MINOR_UNITS)
# Rates are stored as integers in millionths: 7_100_000 means 1 USD = 7.100000 CNY.
RATE_SCALE = 1_000_000
# Rates are kept against this currency; a cross rate goes through it.
PIVOT_CURRENCY = "CNY"
RISK_CURRENCY = "CNY"

# (base, quote) -> how many `quote` one `base` buys, in millionths.
Rates = Mapping[tuple[str, str], int]


class IntentStatus(StrEnum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    CAPTURED = "CAPTURED"
    VOIDED = "VOIDED"
    FAILED = "FAILED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class Action(StrEnum):
    AUTHORIZE = "AUTHORIZE"
    FAIL = "FAIL"
    CAPTURE = "CAPTURE"
    VOID = "VOID"
    REFUND = "REFUND"


class LedgerKind(StrEnum):
    """Money movements; every one is a ledger row."""

    AUTHORIZE = "AUTHORIZE"
    CAPTURE = "CAPTURE"
    VOID = "VOID"
    REFUND = "REFUND"


class FailureReason(StrEnum):
    """The `reason` of `payment.payment.failed` (and of the order's rejection)."""

    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    RISK_REJECTED = "RISK_REJECTED"
    PAYMENT_FAILED = "PAYMENT_FAILED"


class PaymentRuleError(Exception):
    """A request that breaks a payment rule; `code` is stable."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# The intent lifecycle as a table: (from, action) -> to. A refund that leaves part of the
# captured amount unrefunded ends in PARTIALLY_REFUNDED instead (see `Intent.refund`).
TRANSITIONS: dict[tuple[IntentStatus, Action], IntentStatus] = {
    (IntentStatus.PENDING, Action.AUTHORIZE): IntentStatus.AUTHORIZED,
    (IntentStatus.PENDING, Action.FAIL): IntentStatus.FAILED,
    (IntentStatus.AUTHORIZED, Action.CAPTURE): IntentStatus.CAPTURED,
    (IntentStatus.AUTHORIZED, Action.VOID): IntentStatus.VOIDED,
    (IntentStatus.CAPTURED, Action.REFUND): IntentStatus.REFUNDED,
    (IntentStatus.PARTIALLY_REFUNDED, Action.REFUND): IntentStatus.REFUNDED,
}

# States in which an action has already had its effect: asking again is a no-op, which
# makes every handler idempotent by state and not only through the inbox.
ALREADY_DONE: dict[Action, frozenset[IntentStatus]] = {
    Action.CAPTURE: frozenset(
        {IntentStatus.CAPTURED, IntentStatus.PARTIALLY_REFUNDED, IntentStatus.REFUNDED}
    ),
    Action.VOID: frozenset({IntentStatus.VOIDED}),
    Action.REFUND: frozenset({IntentStatus.REFUNDED}),
}


def next_status(current: IntentStatus, action: Action) -> IntentStatus:
    target = TRANSITIONS.get((current, action))
    if target is None:
        raise PaymentRuleError(
            "invalid-transition", f"cannot {action.value.lower()} a payment that is {current}"
        )
    return target


def already_done(current: IntentStatus, action: Action) -> bool:
    return current in ALREADY_DONE.get(action, frozenset())


def compensation(current: IntentStatus, *, order_was_cancelled: bool) -> Action | None:
    """What an order that ended without completing asks of its payment.

    A cancelled order releases the money whatever the step: an authorisation is voided, a
    capture refunded (what is left of it). A rejected order can only have been authorised
    (capture follows confirmation), so only a void applies. Nothing else needs undoing.
    """
    if current is IntentStatus.AUTHORIZED:
        return Action.VOID
    if order_was_cancelled and current in (
        IntentStatus.CAPTURED,
        IntentStatus.PARTIALLY_REFUNDED,
    ):
        return Action.REFUND
    return None


@dataclass(frozen=True, slots=True)
class Intent:
    """The money state of one payment intent; every change returns a new value.

    Invariants (also CHECK constraints in the database): 0 <= refunded <= captured <= amount.
    """

    status: IntentStatus
    amount: int  # authorised (or to be authorised)
    captured: int = 0
    refunded: int = 0

    def __post_init__(self) -> None:
        for name in ("amount", "captured", "refunded"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise PaymentRuleError("invalid-amount", f"{name} must be integer minor units")
        if not 0 <= self.refunded <= self.captured <= self.amount:
            raise PaymentRuleError(
                "invalid-amount", "amounts must satisfy 0 <= refunded <= captured <= amount"
            )

    def _to(self, action: Action, **changes: int) -> Intent:
        return Intent(
            status=next_status(self.status, action),
            amount=self.amount,
            captured=changes.get("captured", self.captured),
            refunded=changes.get("refunded", self.refunded),
        )

    def authorize(self) -> Intent:
        return self._to(Action.AUTHORIZE)

    def fail(self) -> Intent:
        return self._to(Action.FAIL)

    def capture(self) -> Intent:
        """Captures the full authorised amount (one capture per intent)."""
        return self._to(Action.CAPTURE, captured=self.amount)

    def void(self) -> Intent:
        return self._to(Action.VOID)

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded

    def refund(self, amount: int) -> Intent:
        if amount <= 0 or amount > self.refundable:
            raise PaymentRuleError(
                "invalid-refund",
                f"a refund must be between 1 and {self.refundable} (captured minus refunded)",
            )
        after = self._to(Action.REFUND, refunded=self.refunded + amount)
        if after.refunded < after.captured:
            return Intent(
                IntentStatus.PARTIALLY_REFUNDED, self.amount, self.captured, after.refunded
            )
        return after


def check_currency(currency: str) -> None:
    if currency not in SUPPORTED_CURRENCIES:
        raise PaymentRuleError(
            "unsupported-currency",
            f"currency must be one of {', '.join(sorted(SUPPORTED_CURRENCIES))}",
        )


def rate(from_currency: str, to_currency: str, rates: Rates) -> Fraction:
    """The exact rate: direct, inverse of the stored one, or crossed through the pivot."""
    check_currency(from_currency)
    check_currency(to_currency)
    if from_currency == to_currency:
        return Fraction(1)
    if (from_currency, to_currency) in rates:
        return Fraction(rates[(from_currency, to_currency)], RATE_SCALE)
    if (to_currency, from_currency) in rates:
        return Fraction(RATE_SCALE, rates[(to_currency, from_currency)])
    if PIVOT_CURRENCY not in (from_currency, to_currency):
        return rate(from_currency, PIVOT_CURRENCY, rates) * rate(PIVOT_CURRENCY, to_currency, rates)
    raise PaymentRuleError("no-rate", f"no exchange rate from {from_currency} to {to_currency}")


def convert(amount_minor: int, from_currency: str, to_currency: str, rates: Rates) -> int:
    """Convert an amount of minor units into another currency's minor units.

    Rounding rule: the exact product (rates are exact fractions, cross rates are not rounded
    on the way) is rounded once, half to even, to the target currency's minor unit.
    E.g. at 7.10 CNY per USD, 0.05 USD = 0.355 CNY -> 0.36 CNY and 0.15 USD = 1.065 -> 1.06.
    """
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise PaymentRuleError("invalid-amount", "amount must be integer minor units")
    factor = rate(from_currency, to_currency, rates)  # checks both currencies
    exact = (
        Fraction(amount_minor, 10 ** MINOR_UNITS[from_currency])
        * factor
        * 10 ** MINOR_UNITS[to_currency]
    )
    rounded: int = round(exact)  # Fraction rounds half to even
    return rounded


@dataclass(frozen=True, slots=True)
class RiskLimits:
    max_amount_cny: int  # minor units
    velocity_max: int  # payments per member ...
    velocity_window_seconds: int  # ... within this window


def risk_rejection(amount_cny: int, recent_payments: int, limits: RiskLimits) -> str | None:
    """Why a payment is refused before it reaches the provider, or None to go ahead.

    `amount_cny` is the order amount converted with `convert`; `recent_payments` counts the
    member's payment attempts in the window, this one excluded.
    """
    if amount_cny > limits.max_amount_cny:
        return f"amount {amount_cny} CNY minor units exceeds the limit of {limits.max_amount_cny}"
    if recent_payments >= limits.velocity_max:
        return (
            f"more than {limits.velocity_max} payments within "
            f"{limits.velocity_window_seconds} seconds"
        )
    return None


def mask_token(token: str) -> str:
    """What may be kept of a card token once it has been used: `tok_visa` -> `tok_…isa`."""
    if len(token) < 8:
        return "…"
    return f"{token[:4]}…{token[-3:]}"
