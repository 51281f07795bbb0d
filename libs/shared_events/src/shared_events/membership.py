"""Events published by the membership service on `membership.events`.

Member-scoped events (registered, updated, tier, points earned/expired, coupon issued) have the
member id as subject; order-scoped ones (benefits held/rejected, points and coupons held,
redeemed, restored) have the order id, so they stay in order with the order's saga.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import Field

from shared_events.money import Money
from shared_events.registry import EventPayload, registry


@registry.event("membership.member.registered", 1, key="member id")
class MemberRegisteredV1(EventPayload):
    """`phone`: the member's mobile number in E.164 (`+8613812345678`), null when they gave
    none; a dead letter has it redacted."""

    sensitive_fields = frozenset({"phone"})

    member_id: str
    email: str
    name: str
    locale: str  # zh-CN or en
    registered_at: datetime
    phone: str | None = None


@registry.event("membership.member.updated", 1, key="member id")
class MemberUpdatedV1(EventPayload):
    """The profile after the change. `phone`: E.164 or null (the member removed it); the key
    is absent only from producers older than the field, which knew no number."""

    sensitive_fields = frozenset({"phone"})

    member_id: str
    name: str
    locale: str
    marketing_consent: bool = False
    phone: str | None = None


@registry.event("membership.tier.changed", 1, key="member id")
class TierChangedV1(EventPayload):
    """`discount_percent` is the member price discount of the new tier."""

    member_id: str
    old_tier: str
    new_tier: str
    discount_percent: int = Field(ge=0, le=100)
    spend_12m: Money


@registry.event("membership.coupon.issued", 1, key="member id")
class CouponIssuedV1(EventPayload):
    """`kind`: WELCOME_GIFT, FIRST_ORDER, SPEND_THRESHOLD. The discount is `amount_off`
    (fixed) for orders whose subtotal is at least `min_spend`."""

    member_id: str
    coupon_code: str
    kind: str
    amount_off: Money
    min_spend: Money
    valid_from: datetime
    valid_until: datetime
    first_order_only: bool = False


@registry.event("membership.benefits.held", 1, key="order id")
class BenefitsHeldV1(EventPayload):
    """Saga answer: the coupon and points of the order are reserved for it."""

    order_id: str
    member_id: str
    coupon_code: str | None = None
    points: int = 0


@registry.event("membership.benefits.rejected", 1, key="order id")
class BenefitsRejectedV1(EventPayload):
    """Saga answer: nothing is held. `reason`: COUPON_INVALID, INSUFFICIENT_POINTS."""

    order_id: str
    member_id: str
    reason: str


@registry.event("membership.points.held", 1, key="order id")
class PointsHeldV1(EventPayload):
    order_id: str
    member_id: str
    points: int
    balance: int


@registry.event("membership.points.redeemed", 1, key="order id")
class PointsRedeemedV1(EventPayload):
    order_id: str
    member_id: str
    points: int
    balance: int


@registry.event("membership.points.restored", 1, key="order id")
class PointsRestoredV1(EventPayload):
    order_id: str
    member_id: str
    points: int
    balance: int
    reason: str


@registry.event("membership.points.earned", 1, key="member id")
class PointsEarnedV1(EventPayload):
    member_id: str
    order_id: str
    points: int
    balance: int


@registry.event("membership.points.expired", 1, key="member id")
class PointsExpiredV1(EventPayload):
    member_id: str
    points: int
    balance: int


@registry.event("membership.coupon.redeemed", 1, key="order id")
class CouponRedeemedV1(EventPayload):
    order_id: str
    member_id: str
    coupon_code: str


@registry.event("membership.coupon.restored", 1, key="order id")
class CouponRestoredV1(EventPayload):
    order_id: str
    member_id: str
    coupon_code: str
    reason: str
