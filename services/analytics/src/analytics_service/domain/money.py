"""Money in the reporting currency: conversion and the split of an order's total over its lines.
Amounts are integer minor units, as the events carry them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from fractions import Fraction

from chassis.rules import RuleError
from shared_events.money import MINOR_UNITS, REPORTING_CURRENCY

RATE_SCALE = 1_000_000  # rates are millionths of a CNY per unit, as payment stores them


def to_reporting(amount: int, currency: str, rates: Mapping[str, int]) -> int:
    """`amount` minor units of `currency` in CNY fen: the exact product with the rate, rounded
    once, half to even (payment's rule, so the same order gives the same fen on both sides)."""
    if currency == REPORTING_CURRENCY:
        return amount
    if currency not in rates or currency not in MINOR_UNITS:
        raise RuleError("no-rate", f"no rate from {currency} to {REPORTING_CURRENCY}")
    exact = (
        Fraction(amount, 10 ** MINOR_UNITS[currency])
        * Fraction(rates[currency], RATE_SCALE)
        * 10 ** MINOR_UNITS[REPORTING_CURRENCY]
    )
    rounded: int = round(exact)  # Fraction rounds half to even
    return rounded


def paid_to_reporting(
    amount: int, currency: str, rates: Mapping[str, int], *, amount_cny: int | None
) -> int:
    """A payment's amount in CNY fen: the payment's own conversion (`amount_cny` of its event,
    at the rate its authorisation used) when the event carries it; `to_reporting` with
    analytics' rates only for events from producers that predate that field."""
    if amount_cny is not None:
        return amount_cny
    return to_reporting(amount, currency, rates)


def allocate(total: int, weights: Sequence[int]) -> list[int]:
    """Split `total` in proportion to `weights` (largest remainder): the parts sum to `total`
    exactly, the fen left over go to the largest remainders, ties to the earlier weight.
    All-zero weights split evenly."""
    if not weights:
        return []
    if sum(weights) <= 0:
        weights = [1] * len(weights)
    whole = sum(weights)
    shares = [Fraction(total * w, whole) for w in weights]
    parts = [int(share) for share in shares]  # floor: amounts are not negative
    left = total - sum(parts)
    by_remainder = sorted(range(len(shares)), key=lambda i: (-(shares[i] - parts[i]), i))
    for i in by_remainder[:left]:
        parts[i] += 1
    return parts
