"""Tiers by spend over a rolling window, and the member price discount of each. No I/O here.

Spend counts CNY orders only: the suite's benefits are in CNY, and membership keeps no FX
rates (payment owns them). An order in another currency earns neither spend nor points.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

SPEND_CURRENCY = "CNY"


class Tier(StrEnum):
    BRONZE = "BRONZE"
    SILVER = "SILVER"
    GOLD = "GOLD"
    PLATINUM = "PLATINUM"


@dataclass(frozen=True, slots=True)
class TierRule:
    tier: Tier
    min_spend: int  # minor units of SPEND_CURRENCY over the window
    discount_percent: int


@dataclass(frozen=True, slots=True)
class TierTable:
    """Rules from the lowest tier up: spend thresholds strictly ascend from 0, discounts never
    fall as the tier rises."""

    rules: Sequence[TierRule]

    def __post_init__(self) -> None:
        if not self.rules or self.rules[0].min_spend != 0:
            raise ValueError("the lowest tier starts at a spend of 0")
        for lower, higher in zip(self.rules, self.rules[1:], strict=False):
            if higher.min_spend <= lower.min_spend:
                raise ValueError(f"{higher.tier} must need more spend than {lower.tier}")
            if higher.discount_percent < lower.discount_percent:
                raise ValueError(f"{higher.tier} cannot discount less than {lower.tier}")

    def rule_for(self, spend: int) -> TierRule:
        """The highest tier whose threshold `spend` reaches."""
        reached = self.rules[0]
        for rule in self.rules:
            if spend >= rule.min_spend:
                reached = rule
        return reached

    def tier_for(self, spend: int) -> Tier:
        return self.rule_for(spend).tier

    def discount_percent(self, tier: Tier) -> int:
        return next(rule.discount_percent for rule in self.rules if rule.tier == tier)


def counted_spend(amount: int, currency: str) -> int:
    """What an order adds to the tier spend: its total if in CNY, else nothing."""
    return amount if currency == SPEND_CURRENCY else 0
