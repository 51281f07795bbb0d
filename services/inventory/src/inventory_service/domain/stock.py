"""Stock rules: one SKU's level (0 <= reserved <= on_hand), its changes, the movements that
record them and the low-stock signal."""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

from chassis.rules import RuleError

# The most units one SKU (or lot) holds: `on_hand` is an INTEGER column, and a sum of two
# counts must still fit in it.
MAX_UNITS = 1_000_000_000


class MovementKind(StrEnum):
    RECEIVE = "RECEIVE"  # an admin set the counted on-hand quantity
    ADJUST = "ADJUST"  # an admin corrected on-hand by a delta (damage, found, ...)
    RESERVE = "RESERVE"
    COMMIT = "COMMIT"
    RELEASE = "RELEASE"
    WITHDRAW = "WITHDRAW"  # a lot left sale: expired or recalled
    REALLOCATE = "REALLOCATE"  # an order's units moved from a withdrawn lot to another
    DISPOSE = "DISPOSE"  # units of a lot out of sale were destroyed or sent back to the supplier


class StockRuleError(RuleError):
    """A change that breaks a stock rule: the request is well formed but the stock as it is
    does not allow it, so 409; `code` is stable for clients."""

    status = 409


@dataclass(frozen=True, slots=True)
class StockLevel:
    """One SKU's stock. Invariants (also CHECK constraints in the database):
    0 <= reserved <= on_hand, so available = on_hand - reserved is never negative. No increase
    takes on_hand past MAX_UNITS (`adjusted`; a count is held to it by its schema)."""

    on_hand: int
    reserved: int = 0
    safety_stock: int = 0

    def __post_init__(self) -> None:
        if self.on_hand < 0:
            raise StockRuleError("negative-on-hand", "on-hand stock cannot be negative")
        if self.reserved < 0:
            raise StockRuleError("negative-reserved", "reserved stock cannot be negative")
        if self.reserved > self.on_hand:
            raise StockRuleError(
                "below-reserved",
                f"on-hand stock cannot be below the {self.reserved} units reserved for orders",
            )
        if self.safety_stock < 0:
            raise StockRuleError("negative-safety-stock", "safety stock cannot be negative")

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved

    @property
    def is_low(self) -> bool:
        return self.available < self.safety_stock

    def received(self, on_hand: int, safety_stock: int | None = None) -> StockLevel:
        """The counted on-hand quantity (a stock take or a delivery), optionally a new safety
        stock. Units reserved for orders must still be on the shelf."""
        return replace(
            self,
            on_hand=on_hand,
            safety_stock=self.safety_stock if safety_stock is None else safety_stock,
        )

    def before(self, delta_on_hand: int, delta_reserved: int) -> StockLevel:
        """The level this one came from by the given change."""
        return replace(
            self, on_hand=self.on_hand - delta_on_hand, reserved=self.reserved - delta_reserved
        )

    def adjusted(self, delta: int) -> StockLevel:
        if delta == 0:
            raise StockRuleError("zero-delta", "an adjustment must change the stock")
        if delta > 0 and self.on_hand + delta > MAX_UNITS:  # down is always allowed
            raise StockRuleError("too-many-units", f"a SKU holds at most {MAX_UNITS} units")
        return replace(self, on_hand=self.on_hand + delta)


def became_low(before: StockLevel, after: StockLevel) -> bool:
    """The low-stock signal fires on the crossing only: not low before, low after."""
    return not before.is_low and after.is_low
