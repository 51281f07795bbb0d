"""Reservation rules: all-or-none reservation of an order's lines, and the reservation's
lifecycle (reserved, then committed or released) as a table."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from inventory_service.domain.stock import MovementKind, StockRuleError


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
        raise StockRuleError("invalid-quantity", "a quantity must be positive")


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


# The reservation lifecycle as a table: (status, action) -> step. Anything else changes
# nothing, which makes every handler idempotent by state as well as by inbox.
TRANSITIONS: dict[tuple[ReservationStatus, ReservationAction], Step] = {
    (ReservationStatus.RESERVED, ReservationAction.COMMIT): Step(
        ReservationStatus.COMMITTED, MovementKind.COMMIT, -1, -1, None
    ),
    (ReservationStatus.RESERVED, ReservationAction.REJECT): Step(
        ReservationStatus.RELEASED, MovementKind.RELEASE, 0, -1, ReleaseReason.ORDER_REJECTED
    ),
    (ReservationStatus.RESERVED, ReservationAction.CANCEL): Step(
        ReservationStatus.RELEASED, MovementKind.RELEASE, 0, -1, ReleaseReason.ORDER_CANCELLED
    ),
    (ReservationStatus.RESERVED, ReservationAction.EXPIRE): Step(
        ReservationStatus.RELEASED, MovementKind.RELEASE, 0, -1, ReleaseReason.EXPIRED
    ),
    # Committed units already left on-hand: a cancellation after confirmation restocks them.
    (ReservationStatus.COMMITTED, ReservationAction.CANCEL): Step(
        ReservationStatus.RELEASED, MovementKind.RELEASE, 1, 0, ReleaseReason.ORDER_CANCELLED
    ),
    # A return puts the units back on the shelf the same way.
    (ReservationStatus.COMMITTED, ReservationAction.RETURN): Step(
        ReservationStatus.RELEASED, MovementKind.RELEASE, 1, 0, ReleaseReason.ORDER_RETURNED
    ),
}


def next_step(status: ReservationStatus, action: ReservationAction) -> Step | None:
    """The step to apply, or None when the action does nothing in this status."""
    return TRANSITIONS.get((status, action))


def decided_before_placed(action: ReservationAction) -> ReleaseReason | None:
    """An order cancelled or rejected before its `order.order.placed` reached inventory: the
    reason to record it as released with nothing held, so that the late `placed` reserves
    nothing. A cancellation overtakes `placed` when the relay sends it late (a replica died
    between its commit and its send); a rejection, when inventory's `placed` was dead-lettered
    and is replayed after the order was rejected for its benefits. None for a commit or a
    return, which answer a reservation."""
    if action is ReservationAction.CANCEL:
        return ReleaseReason.ORDER_CANCELLED
    if action is ReservationAction.REJECT:
        return ReleaseReason.ORDER_REJECTED
    return None
