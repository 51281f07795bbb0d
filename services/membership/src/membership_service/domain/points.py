"""Points: earning, holding for an order, redeeming, restoring and expiring. No I/O here.

A member's points are `balance` (spendable) and `held` (reserved by pending orders). Every
change is a ledger row with the change of each (`delta`, `held_delta`) and both afterwards,
so the sum of `delta` over the ledger is the balance and the sum of `held_delta` the held.

Expiry is first in, first out: points earned at `t` expire at `t + ttl`, and points used are
taken from the oldest earned first. So what is due at `now` is
    earned in lots due by now - points used (held or redeemed, net of restores and revokes)
    - points already expired,
never less than 0 and never more than the balance. Restored points return to the oldest lots:
points given back by a refund after their lot's expiry expire at the next run.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.rules import RuleError
from membership_service.domain.tiers import SPEND_CURRENCY


class LedgerKind(StrEnum):
    EARN = "EARN"  # an order completed: balance +n
    HOLD = "HOLD"  # an order was placed with points: balance -n, held +n
    REDEEM = "REDEEM"  # the order was confirmed: held -n
    RESTORE = "RESTORE"  # the order failed (held -n) or was refunded: balance +n
    EXPIRE = "EXPIRE"  # the points' lot reached its age: balance -n
    REVOKE = "REVOKE"  # a completed order was refunded: what it earned goes, balance -n


# Kinds whose `delta` counts as points used, for first-in-first-out expiry.
USING_KINDS = (LedgerKind.HOLD, LedgerKind.RESTORE, LedgerKind.REVOKE)


class PointsRuleError(RuleError):
    """A points change that breaks a points rule: 422."""


@dataclass(frozen=True, slots=True)
class PointsRules:
    points_per_yuan: int = 1  # earned per 1.00 CNY of an order's total
    points_per_yuan_off: int = 100  # this many points are worth 1.00 CNY at checkout
    ttl_days: int = 365

    def earned(self, total: int, currency: str) -> int:
        """Points for a completed order: floor of its CNY total in yuan times the rate."""
        if currency != SPEND_CURRENCY or total <= 0:
            return 0
        return total * self.points_per_yuan // 100

    def value(self, points: int) -> int:
        """What `points` take off an order, in CNY minor units (floor)."""
        return max(points, 0) * 100 // self.points_per_yuan_off

    def expires_at(self, earned_at: datetime) -> datetime:
        return earned_at + timedelta(days=self.ttl_days)


@dataclass(frozen=True, slots=True)
class Change:
    """One ledger row's numbers."""

    kind: LedgerKind
    delta: int
    held_delta: int
    balance_after: int
    held_after: int

    @property
    def points(self) -> int:
        return abs(self.delta) or abs(self.held_delta)


@dataclass(frozen=True, slots=True)
class Points:
    balance: int = 0
    held: int = 0

    def __post_init__(self) -> None:
        if self.balance < 0 or self.held < 0:
            raise PointsRuleError("negative-points", "points cannot go below zero")

    def _change(self, kind: LedgerKind, delta: int, held_delta: int) -> tuple[Points, Change]:
        after = replace(self, balance=self.balance + delta, held=self.held + held_delta)
        return after, Change(kind, delta, held_delta, after.balance, after.held)

    @staticmethod
    def _positive(points: int) -> None:
        if points <= 0:
            raise PointsRuleError("not-positive", "a points change is a positive number")

    def earn(self, points: int) -> tuple[Points, Change]:
        self._positive(points)
        return self._change(LedgerKind.EARN, points, 0)

    def can_hold(self, points: int) -> bool:
        return 0 < points <= self.balance

    def hold(self, points: int) -> tuple[Points, Change]:
        self._positive(points)
        if points > self.balance:
            raise PointsRuleError("insufficient-points", f"only {self.balance} points to use")
        return self._change(LedgerKind.HOLD, -points, points)

    def redeem(self, points: int) -> tuple[Points, Change]:
        """Held points are spent: they leave the held state for good."""
        self._positive(points)
        return self._change(LedgerKind.REDEEM, 0, -points)

    def release(self, points: int) -> tuple[Points, Change]:
        """Held points go back to the balance (the order failed)."""
        self._positive(points)
        return self._change(LedgerKind.RESTORE, points, -points)

    def refund(self, points: int) -> tuple[Points, Change]:
        """Redeemed points come back (the order was refunded)."""
        self._positive(points)
        return self._change(LedgerKind.RESTORE, points, 0)

    def expire(self, points: int) -> tuple[Points, Change]:
        self._positive(points)
        return self._change(LedgerKind.EXPIRE, -min(points, self.balance), 0)

    def revoke(self, points: int) -> tuple[Points, Change] | None:
        """Take back what a refunded order earned, as far as the balance still holds it."""
        taken = min(points, self.balance)
        return self._change(LedgerKind.REVOKE, -taken, 0) if taken > 0 else None


def due_to_expire(*, earned_due: int, used: int, expired: int, balance: int) -> int:
    """Points to expire now (first in, first out; see the module docstring).

    `earned_due`: points of every lot whose expiry has passed; `used`: net points used so far
    (held or redeemed, minus restored, plus revoked); `expired`: points expired so far."""
    return max(0, min(balance, earned_due - used - expired))
