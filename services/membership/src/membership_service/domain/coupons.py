"""Coupons: single use, fixed amount off above a minimum spend, valid between two dates.
No I/O here.

A coupon is ACTIVE until an order holds it (HELD, with that order's id); the order's
confirmation makes it REDEEMED, its failure makes it ACTIVE again, and so does a refund of a
confirmed order. EXPIRED is not stored: it is an ACTIVE coupon past its `valid_until`.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum

from chassis.rules import RuleError

COUPON_CURRENCY = "CNY"
# Human-typable: no 0/O, 1/I/L; upper case; read out in groups of four.
CODE_ALPHABET = "23456789ABCDEFGHJKMNPQRSTUVWXYZ"
CODE_LENGTH = 12  # 31**12, about 8e17 codes
CODE_GROUP = 4
_NOT_CODE = re.compile(r"[\s-]+")


class CouponKind(StrEnum):
    WELCOME_GIFT = "WELCOME_GIFT"
    FIRST_ORDER = "FIRST_ORDER"
    SPEND_THRESHOLD = "SPEND_THRESHOLD"


class CouponStatus(StrEnum):
    ACTIVE = "ACTIVE"
    HELD = "HELD"
    REDEEMED = "REDEEMED"
    EXPIRED = "EXPIRED"  # shown, never stored


class CouponRuleError(RuleError):
    """A coupon's terms or use that break a coupon rule: 422."""


def new_code(choice: Callable[[str], str] = secrets.choice) -> str:
    """`K7QM-3XPA-9RTD`: random, unique in practice (the database makes sure)."""
    raw = "".join(choice(CODE_ALPHABET) for _ in range(CODE_LENGTH))
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))


def normalise_code(text: str) -> str | None:
    """What a customer typed (`k7qm 3xpa-9rtd`) in the stored form, or None if it cannot be
    a code at all."""
    raw = _NOT_CODE.sub("", text).upper()
    if len(raw) != CODE_LENGTH or any(c not in CODE_ALPHABET for c in raw):
        return None
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_LENGTH, CODE_GROUP))


@dataclass(frozen=True, slots=True)
class CouponTerms:
    """What a coupon of a kind gives; the issuing rule of a kind of coupon."""

    kind: CouponKind
    amount_off: int
    min_spend: int
    valid_days: int
    first_order_only: bool = False

    def __post_init__(self) -> None:
        if self.amount_off <= 0 or self.min_spend < 0 or self.valid_days <= 0:
            raise CouponRuleError("invalid-terms", "a coupon takes a positive amount off")

    def issue(self, code: str, member_id: str, now: datetime) -> Coupon:
        return Coupon(
            code=code,
            member_id=member_id,
            kind=self.kind,
            amount_off=self.amount_off,
            min_spend=self.min_spend,
            valid_from=now,
            valid_until=now + timedelta(days=self.valid_days),
            first_order_only=self.first_order_only,
        )


@dataclass(frozen=True, slots=True)
class Coupon:
    code: str
    member_id: str
    kind: CouponKind
    amount_off: int
    min_spend: int
    valid_from: datetime
    valid_until: datetime
    first_order_only: bool = False
    status: CouponStatus = CouponStatus.ACTIVE
    order_id: str | None = None  # the order holding or having redeemed it
    currency: str = COUPON_CURRENCY

    def shown_status(self, now: datetime) -> CouponStatus:
        if self.status is CouponStatus.ACTIVE and now > self.valid_until:
            return CouponStatus.EXPIRED
        return self.status

    def problem(
        self,
        *,
        member_id: str,
        currency: str,
        subtotal: int,
        at: datetime,
        first_order: bool,
    ) -> str | None:
        """Why this coupon cannot be held for an order, or None when it can."""
        if self.member_id != member_id:
            return "the coupon belongs to another member"
        if self.status is not CouponStatus.ACTIVE:
            return f"the coupon is {self.status.value.lower()}"
        if not self.valid_from <= at <= self.valid_until:
            return "the coupon is not valid at this time"
        if currency != self.currency:
            return f"the coupon applies to {self.currency} orders"
        if subtotal < self.min_spend:
            return f"the coupon needs a subtotal of at least {self.min_spend}"
        if self.first_order_only and not first_order:
            return "the coupon is for a first order only"
        return None

    def hold(self, order_id: str) -> Coupon:
        if self.status is not CouponStatus.ACTIVE:
            raise CouponRuleError("not-active", f"coupon {self.code} is {self.status}")
        return replace(self, status=CouponStatus.HELD, order_id=order_id)

    def held_by(self, order_id: str) -> bool:
        return self.status is CouponStatus.HELD and self.order_id == order_id

    def redeemed_by(self, order_id: str) -> bool:
        return self.status is CouponStatus.REDEEMED and self.order_id == order_id

    def redeem(self, order_id: str) -> Coupon:
        if not self.held_by(order_id):
            raise CouponRuleError("not-held", f"coupon {self.code} is not held by {order_id}")
        return replace(self, status=CouponStatus.REDEEMED)

    def restore(self, order_id: str) -> Coupon:
        """Back to ACTIVE: the holding order failed, or the redeeming order was refunded."""
        if not (self.held_by(order_id) or self.redeemed_by(order_id)):
            raise CouponRuleError("not-used", f"coupon {self.code} is not used by {order_id}")
        return replace(self, status=CouponStatus.ACTIVE, order_id=None)
