from __future__ import annotations

from chassis.kept import Kept
from chassis.testing.clock import ManualClock


def test_a_value_is_kept_for_its_seconds() -> None:
    clock = ManualClock()
    kept: Kept[str, int] = Kept(1.0, 10, clock=clock)
    kept.put("a", 1)
    clock.now += 0.99
    assert kept.get("a") == 1
    clock.now += 0.02
    assert kept.get("a") is None
    assert kept.get("never") is None


def test_when_full_the_expired_go_first_then_the_oldest() -> None:
    clock = ManualClock()
    kept: Kept[str, int] = Kept(1.0, 3, clock=clock)
    kept.put("old", 0)
    clock.now += 0.5
    kept.put("a", 1)
    kept.put("b", 2)
    clock.now += 0.6  # "old" has expired, "a" and "b" have not
    kept.put("c", 3)
    assert (kept.get("a"), kept.get("b"), kept.get("c"), len(kept)) == (1, 2, 3, 3)
    kept.put("d", 4)  # none expired: the oldest ("a") goes
    assert (kept.get("a"), kept.get("b"), kept.get("d"), len(kept)) == (None, 2, 4, 3)


def test_putting_again_renews_the_time_and_the_place() -> None:
    clock = ManualClock()
    kept: Kept[str, int] = Kept(1.0, 2, clock=clock)
    kept.put("a", 1)
    kept.put("b", 2)
    clock.now += 0.5
    kept.put("a", 10)  # now the newest
    kept.put("c", 3)  # full: "b" is the oldest
    assert (kept.get("a"), kept.get("b"), kept.get("c")) == (10, None, 3)
    clock.now += 0.9
    assert kept.get("a") == 10


def test_clear() -> None:
    kept: Kept[str, int] = Kept(60.0, 5)
    kept.put("a", 1)
    kept.clear()
    assert kept.get("a") is None and len(kept) == 0
