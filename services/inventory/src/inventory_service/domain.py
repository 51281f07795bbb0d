"""Inventory rules: stock levels, all-or-none reservations, the reservation lifecycle and the
low-stock signal. No I/O here: the service package applies these rules with conditional updates."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from enum import StrEnum


class MovementKind(StrEnum):
    RECEIVE = "RECEIVE"  # an admin set the counted on-hand quantity
    ADJUST = "ADJUST"  # an admin corrected on-hand by a delta (damage, found, ...)
    RESERVE = "RESERVE"
    COMMIT = "COMMIT"
    RELEASE = "RELEASE"


class ReservationStatus(StrEnum):
    RESERVED = "RESERVED"
    COMMITTED = "COMMITTED"
    RELEASED = "RELEASED"
    # Nothing was held: kept so that a redelivered `order.order.placed` cannot reserve later.
    REJECTED = "REJECTED"


class ReleaseReason(StrEnum):
    ORDER_REJECTED = "ORDER_REJECTED"
    ORDER_CANCELLED = "ORDER_CANCELLED"
    ORDER_RETURNED = "ORDER_RETURNED"
    EXPIRED = "EXPIRED"


class InventoryRuleError(Exception):
    """A change that breaks a stock rule; `code` is stable for clients."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


@dataclass(frozen=True, slots=True)
class StockLevel:
    """One SKU's stock. Invariants (also CHECK constraints in the database):
    0 <= reserved <= on_hand, so available = on_hand - reserved is never negative."""

    on_hand: int
    reserved: int = 0
    safety_stock: int = 0

    def __post_init__(self) -> None:
        if self.on_hand < 0:
            raise InventoryRuleError("negative-on-hand", "on-hand stock cannot be negative")
        if self.reserved < 0:
            raise InventoryRuleError("negative-reserved", "reserved stock cannot be negative")
        if self.reserved > self.on_hand:
            raise InventoryRuleError(
                "below-reserved",
                f"on-hand stock cannot be below the {self.reserved} units reserved for orders",
            )
        if self.safety_stock < 0:
            raise InventoryRuleError("negative-safety-stock", "safety stock cannot be negative")

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
            raise InventoryRuleError("zero-delta", "an adjustment must change the stock")
        return replace(self, on_hand=self.on_hand + delta)


def became_low(before: StockLevel, after: StockLevel) -> bool:
    """The low-stock signal fires on the crossing only: not low before, low after."""
    return not before.is_low and after.is_low


@dataclass(frozen=True, slots=True, order=True)
class Line:
    sku: str
    quantity: int


@dataclass(frozen=True, slots=True)
class Shortage:
    sku: str
    requested: int
    available: int


def _check_quantity(quantity: int) -> None:
    if quantity <= 0:
        raise InventoryRuleError("invalid-quantity", "a quantity must be positive")


def merge_lines(lines: Iterable[tuple[str, int]]) -> list[Line]:
    """One line per SKU (quantities of repeated SKUs summed), sorted by SKU: the order in which
    rows are locked, so two reservations never wait on each other in a cycle."""
    totals: dict[str, int] = {}
    for sku, quantity in lines:
        _check_quantity(quantity)
        totals[sku] = totals.get(sku, 0) + quantity
    return [Line(sku, totals[sku]) for sku in sorted(totals)]


def plan_reservation(lines: Sequence[Line], available: Mapping[str, int]) -> list[Shortage]:
    """All or none: the lines that do not fit (an unknown SKU has nothing available).
    An empty list means every line can be reserved."""
    return [
        Shortage(line.sku, line.quantity, max(available.get(line.sku, 0), 0))
        for line in lines
        if available.get(line.sku, 0) < line.quantity
    ]


class ReservationAction(StrEnum):
    COMMIT = "commit"  # the order is confirmed
    REJECT = "reject"  # the order was rejected by a later saga step
    CANCEL = "cancel"  # the order was cancelled (before or after confirmation)
    EXPIRE = "expire"  # nobody confirmed the reservation in time
    RETURN = "return"  # the delivered goods came back


@dataclass(frozen=True, slots=True)
class Step:
    """What an action does to a reservation: its new status, the movement recorded per line
    and the change per unit of the line's quantity to on-hand and reserved."""

    target: ReservationStatus
    kind: MovementKind
    on_hand_per_unit: int
    reserved_per_unit: int
    reason: ReleaseReason | None

    def deltas(self, quantity: int) -> tuple[int, int]:
        return self.on_hand_per_unit * quantity, self.reserved_per_unit * quantity


_RESERVED, _COMMITTED = ReservationStatus.RESERVED, ReservationStatus.COMMITTED
_RELEASED = ReservationStatus.RELEASED

# The reservation lifecycle as a table: (status, action) -> step. Anything else changes
# nothing, which makes every handler idempotent by state as well as by inbox.
TRANSITIONS: dict[tuple[ReservationStatus, ReservationAction], Step] = {
    (_RESERVED, ReservationAction.COMMIT): Step(_COMMITTED, MovementKind.COMMIT, -1, -1, None),
    (_RESERVED, ReservationAction.REJECT): Step(
        _RELEASED, MovementKind.RELEASE, 0, -1, ReleaseReason.ORDER_REJECTED
    ),
    (_RESERVED, ReservationAction.CANCEL): Step(
        _RELEASED, MovementKind.RELEASE, 0, -1, ReleaseReason.ORDER_CANCELLED
    ),
    (_RESERVED, ReservationAction.EXPIRE): Step(
        _RELEASED, MovementKind.RELEASE, 0, -1, ReleaseReason.EXPIRED
    ),
    # Committed units already left on-hand: a cancellation after confirmation restocks them.
    (_COMMITTED, ReservationAction.CANCEL): Step(
        _RELEASED, MovementKind.RELEASE, 1, 0, ReleaseReason.ORDER_CANCELLED
    ),
    # A return puts the units back on the shelf the same way.
    (_COMMITTED, ReservationAction.RETURN): Step(
        _RELEASED, MovementKind.RELEASE, 1, 0, ReleaseReason.ORDER_RETURNED
    ),
}


def next_step(status: ReservationStatus, action: ReservationAction) -> Step | None:
    """The step to apply, or None when the action does nothing in this status."""
    return TRANSITIONS.get((status, action))
