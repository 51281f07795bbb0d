"""Currencies and exchange rates: exact conversion between minor units. No I/O here."""

from __future__ import annotations

from collections.abc import Mapping
from fractions import Fraction

from chassis.rules import RuleError
from shared_events.money import CURRENCIES as SUPPORTED_CURRENCIES
from shared_events.money import MINOR_UNITS, REPORTING_CURRENCY

# Rates are stored as integers in millionths: 7_100_000 means 1 USD = 7.100000 CNY.
RATE_SCALE = 1_000_000
# Rates are kept against this currency; a cross rate goes through it.
PIVOT_CURRENCY = "CNY"
# The risk limits are in the events' reporting currency, so the authorisation's one conversion
# serves both.
RISK_CURRENCY = REPORTING_CURRENCY

# (base, quote) -> how many `quote` one `base` buys, in millionths.
Rates = Mapping[tuple[str, str], int]


def check_currency(currency: str) -> None:
    if currency not in SUPPORTED_CURRENCIES:
        raise RuleError(
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
    raise RuleError("no-rate", f"no exchange rate from {from_currency} to {to_currency}")


def convert(amount_minor: int, from_currency: str, to_currency: str, rates: Rates) -> int:
    """Convert an amount of minor units into another currency's minor units.

    Rounding rule: the exact product (rates are exact fractions, cross rates are not rounded
    on the way) is rounded once, half to even, to the target currency's minor unit.
    E.g. at 7.10 CNY per USD, 0.05 USD = 0.355 CNY -> 0.36 CNY and 0.15 USD = 1.065 -> 1.06.
    """
    if isinstance(amount_minor, bool) or not isinstance(amount_minor, int):
        raise RuleError("invalid-amount", "amount must be integer minor units")
    factor = rate(from_currency, to_currency, rates)  # checks both currencies
    exact = (
        Fraction(amount_minor, 10 ** MINOR_UNITS[from_currency])
        * factor
        * 10 ** MINOR_UNITS[to_currency]
    )
    rounded: int = round(exact)  # Fraction rounds half to even
    return rounded


def converted_part(amount: int, amount_converted: int, upto: int) -> int:
    """The converted value of the first `upto` minor units of a payment of `amount` units whose
    whole was converted to `amount_converted` (at its authorisation's rate).

    Proportional, rounded half to even, so `upto == amount` gives `amount_converted` exactly
    and the parts of successive steps, taken as differences of these cumulative values, add
    up to it without a fen lost or gained.
    """
    if not 0 <= upto <= amount:
        raise RuleError("invalid-amount", "the part must lie within the payment's amount")
    if amount == 0:
        return 0
    rounded: int = round(Fraction(amount_converted * upto, amount))
    return rounded
