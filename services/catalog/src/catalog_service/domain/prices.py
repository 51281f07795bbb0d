"""A list price: integer minor units in a currency the catalog sells in. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass

from chassis.rules import RuleError
from shared_events.money import CURRENCIES as SUPPORTED_CURRENCIES


@dataclass(frozen=True, slots=True)
class Price:
    amount: int  # minor units: fen, cents
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise RuleError("invalid-price", "amount must be an integer of minor units")
        if self.amount < 0:
            raise RuleError("invalid-price", "amount must not be negative")
        if self.currency not in SUPPORTED_CURRENCIES:
            raise RuleError(
                "unsupported-currency",
                f"currency must be one of {', '.join(sorted(SUPPORTED_CURRENCIES))}",
            )
