from __future__ import annotations

import itertools

import pytest

from inventory_service.domain.reservations import (
    TRANSITIONS,
    Line,
    ReleaseReason,
    ReservationAction,
    ReservationStatus,
    Shortage,
    decided_before_placed,
    merge_lines,
    next_step,
    plan_reservation,
)
from inventory_service.domain.stock import (
    MAX_UNITS,
    MovementKind,
    StockLevel,
    StockRuleError,
    became_low,
)


@pytest.mark.parametrize(
    ("on_hand", "reserved", "available"), [(0, 0, 0), (10, 0, 10), (10, 4, 6), (7, 7, 0)]
)
def test_available_is_on_hand_minus_reserved(on_hand: int, reserved: int, available: int) -> None:
    assert StockLevel(on_hand, reserved).available == available


@pytest.mark.parametrize(
    ("on_hand", "reserved", "safety", "code"),
    [
        (-1, 0, 0, "negative-on-hand"),
        (5, -1, 0, "negative-reserved"),
        (5, 6, 0, "below-reserved"),
        (5, 0, -1, "negative-safety-stock"),
    ],
)
def test_a_level_that_breaks_an_invariant_cannot_exist(
    on_hand: int, reserved: int, safety: int, code: str
) -> None:
    with pytest.raises(StockRuleError) as caught:
        StockLevel(on_hand, reserved, safety)
    assert caught.value.code == code


def test_receiving_sets_on_hand_and_optionally_safety_stock() -> None:
    level = StockLevel(10, 4, 5)
    assert level.received(20) == StockLevel(20, 4, 5)
    assert level.received(4, safety_stock=0) == StockLevel(4, 4, 0)
    with pytest.raises(StockRuleError) as caught:
        level.received(3)  # 4 units are promised to orders
    assert caught.value.code == "below-reserved"


@pytest.mark.parametrize(
    ("delta", "expected", "code"),
    [
        (5, StockLevel(15, 4), None),
        (-6, StockLevel(4, 4), None),
        (-7, None, "below-reserved"),
        (-11, None, "negative-on-hand"),
        (0, None, "zero-delta"),
    ],
)
def test_adjustments_keep_reserved_units_on_the_shelf(
    delta: int, expected: StockLevel | None, code: str | None
) -> None:
    level = StockLevel(10, 4)
    if code is None:
        assert level.adjusted(delta) == expected
        return
    with pytest.raises(StockRuleError) as caught:
        level.adjusted(delta)
    assert caught.value.code == code


def test_no_increase_takes_a_sku_past_its_ceiling_and_down_is_always_allowed() -> None:
    assert StockLevel(MAX_UNITS - 1).adjusted(1) == StockLevel(MAX_UNITS)
    with pytest.raises(StockRuleError) as caught:
        StockLevel(MAX_UNITS).adjusted(1)
    assert caught.value.code == "too-many-units"
    # A level past the ceiling from before it was a rule is read, and can only come down.
    past = StockLevel(2 * MAX_UNITS)
    assert past.adjusted(-1) == StockLevel(2 * MAX_UNITS - 1)
    with pytest.raises(StockRuleError):
        past.adjusted(1)


def test_before_undoes_a_change() -> None:
    after = StockLevel(8, 3, 5)
    assert after.before(-2, -2) == StockLevel(10, 5, 5)
    assert after.before(0, 3) == StockLevel(8, 0, 5)


@pytest.mark.parametrize(
    ("before", "after", "fires"),
    [
        (StockLevel(10, 0, 5), StockLevel(10, 6, 5), True),  # 10 -> 4: crosses
        (StockLevel(10, 0, 5), StockLevel(10, 5, 5), False),  # 10 -> 5: at the line, not under
        (StockLevel(10, 5, 5), StockLevel(10, 6, 5), True),  # 5 -> 4: crosses
        (StockLevel(10, 6, 5), StockLevel(10, 7, 5), False),  # 4 -> 3: was low already
        (StockLevel(10, 7, 5), StockLevel(10, 0, 5), False),  # rising
        (StockLevel(3, 0, 5), StockLevel(2, 0, 5), False),  # low before and after
        (StockLevel(6, 0, 5), StockLevel(6, 0, 7), True),  # the safety stock was raised over it
        (StockLevel(6, 0, 0), StockLevel(0, 0, 0), False),  # no safety stock: never low
    ],
)
def test_low_stock_fires_on_the_crossing_only(
    before: StockLevel, after: StockLevel, fires: bool
) -> None:
    assert became_low(before, after) is fires


def test_merge_lines_sums_repeated_skus_and_sorts() -> None:
    merged = merge_lines([("TEA-500", 1), ("CUP-1", 2), ("TEA-500", 3), ("BOWL", 1)])
    assert merged == [Line("BOWL", 1), Line("CUP-1", 2), Line("TEA-500", 4)]
    assert merge_lines([]) == []


@pytest.mark.parametrize("quantity", [0, -1])
def test_merge_lines_refuses_quantities_that_are_not_positive(quantity: int) -> None:
    with pytest.raises(StockRuleError):
        merge_lines([("A", 1), ("B", quantity)])


@pytest.mark.parametrize(
    ("available", "shortages"),
    [
        ({"A": 2, "B": 5}, []),
        ({"A": 9, "B": 9}, []),
        ({"A": 1, "B": 5}, [Shortage("A", 2, 1)]),
        ({"A": 2}, [Shortage("B", 5, 0)]),  # unknown SKU: nothing available
        ({}, [Shortage("A", 2, 0), Shortage("B", 5, 0)]),
        ({"A": 0, "B": 4}, [Shortage("A", 2, 0), Shortage("B", 5, 4)]),
    ],
)
def test_plan_is_all_or_none(available: dict[str, int], shortages: list[Shortage]) -> None:
    assert plan_reservation([Line("A", 2), Line("B", 5)], available) == shortages


@pytest.mark.parametrize(
    ("status", "action", "target", "kind", "per_unit", "reason"),
    [
        ("RESERVED", "commit", "COMMITTED", MovementKind.COMMIT, (-1, -1), None),
        ("RESERVED", "reject", "RELEASED", MovementKind.RELEASE, (0, -1), "ORDER_REJECTED"),
        ("RESERVED", "cancel", "RELEASED", MovementKind.RELEASE, (0, -1), "ORDER_CANCELLED"),
        ("RESERVED", "expire", "RELEASED", MovementKind.RELEASE, (0, -1), "EXPIRED"),
        ("COMMITTED", "cancel", "RELEASED", MovementKind.RELEASE, (1, 0), "ORDER_CANCELLED"),
    ],
)
def test_reservation_lifecycle(
    status: str,
    action: str,
    target: str,
    kind: MovementKind,
    per_unit: tuple[int, int],
    reason: str | None,
) -> None:
    step = next_step(ReservationStatus(status), ReservationAction(action))
    assert step is not None
    assert step.target is ReservationStatus(target)
    assert step.kind is kind
    assert step.deltas(3) == (per_unit[0] * 3, per_unit[1] * 3)
    assert step.reason == (ReleaseReason(reason) if reason else None)


@pytest.mark.parametrize(
    ("status", "action"), list(itertools.product(ReservationStatus, ReservationAction))
)
def test_every_other_action_changes_nothing(
    status: ReservationStatus, action: ReservationAction
) -> None:
    if (status, action) in TRANSITIONS:
        return
    assert next_step(status, action) is None


def test_a_cancellation_or_rejection_can_come_before_the_order_is_placed() -> None:
    assert decided_before_placed(ReservationAction.CANCEL) is ReleaseReason.ORDER_CANCELLED
    assert decided_before_placed(ReservationAction.REJECT) is ReleaseReason.ORDER_REJECTED
    # A commit or a return answers a reservation, so it follows `placed`.
    assert decided_before_placed(ReservationAction.COMMIT) is None
    assert decided_before_placed(ReservationAction.RETURN) is None
    assert decided_before_placed(ReservationAction.EXPIRE) is None


def test_committed_units_restocked_balance_out() -> None:
    """Reserve, commit, then cancel: on-hand and reserved are back where they started."""
    commit = next_step(ReservationStatus.RESERVED, ReservationAction.COMMIT)
    cancel = next_step(ReservationStatus.COMMITTED, ReservationAction.CANCEL)
    assert commit is not None and cancel is not None
    reserve = (0, 4)
    total = [sum(d) for d in zip(reserve, commit.deltas(4), cancel.deltas(4), strict=True)]
    assert total == [0, 0]
