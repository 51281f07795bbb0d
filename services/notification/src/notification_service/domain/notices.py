"""Which message an event calls for. A `Notice` names the template, whom it is for (a member,
or the operators) and what the template may use; the service then finds the addresses,
applies the preferences and renders it per recipient. No I/O here."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from notification_service.domain.templates import Category, Template
from shared_events.inventory import (
    LotExpiredV1,
    LotExpiringV1,
    LotRecalledV1,
    RecallCustomerAffectedV1,
    StockLowV1,
)
from shared_events.membership import CouponIssuedV1, TierChangedV1
from shared_events.order import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderRejectedV1,
    OrderShippedV1,
)
from shared_events.payment import PaymentRefundedV1
from shared_events.registry import EventPayload

WELCOME_GIFT = "WELCOME_GIFT"
TIER_RANK = {"BRONZE": 0, "SILVER": 1, "GOLD": 2, "PLATINUM": 3}


def is_upgrade(old_tier: str, new_tier: str) -> bool:
    """True when the new tier ranks higher; an unknown tier is never an upgrade."""
    if new_tier not in TIER_RANK:
        return False
    return TIER_RANK[new_tier] > TIER_RANK.get(old_tier, -1)


@dataclass(frozen=True, slots=True)
class Notice:
    """`member_id` None means the operators (settings `operator_emails`). The template sees
    `event` (the payload), the recipient's `name` and `locale`, and `extra`."""

    template: Template
    event: EventPayload
    member_id: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)

    @property
    def category(self) -> Category:
        return self.template.category

    def context(self) -> dict[str, Any]:
        return {"event": self.event, **self.extra}


def for_coupon(event: CouponIssuedV1) -> Notice:
    """Welcome and gift coupon are one message: membership issues the WELCOME_GIFT in the
    registration transaction, right after `membership.member.registered` on the same partition,
    so the member is known by then. Other coupons are marketing."""
    template = Template.WELCOME if event.kind == WELCOME_GIFT else Template.COUPON_ISSUED
    return Notice(template, event, event.member_id)


def for_tier(event: TierChangedV1) -> Notice | None:
    if not is_upgrade(event.old_tier, event.new_tier):
        return None  # a downgrade is not announced
    return Notice(Template.TIER_UPGRADED, event, event.member_id)


def for_order(template: Template) -> Callable[[Any], Notice]:
    def build(event: Any) -> Notice:
        return Notice(template, event, event.member_id)

    return build


def for_operators(template: Template) -> Callable[[Any], Notice]:
    """Stock and lot events go to the operators (no member has preferences for them)."""

    def build(event: Any) -> Notice:
        return Notice(template, event, member_id=None)

    return build


def for_recall(event: RecallCustomerAffectedV1) -> Notice:
    """A member received units of a recalled lot: a safety notice (`Category.SAFETY`)."""
    return Notice(Template.RECALL_NOTICE, event, event.member_id)


def for_refund(event: PaymentRefundedV1, member_id: str) -> Notice:
    """Refunds name the order only; the member comes from the order read model."""
    return Notice(Template.PAYMENT_REFUNDED, event, member_id)


BUILDERS: dict[type[EventPayload], Callable[[Any], Notice | None]] = {
    CouponIssuedV1: for_coupon,
    TierChangedV1: for_tier,
    OrderConfirmedV1: for_order(Template.ORDER_CONFIRMED),
    OrderRejectedV1: for_order(Template.ORDER_REJECTED),
    OrderCancelledV1: for_order(Template.ORDER_CANCELLED),
    OrderShippedV1: for_order(Template.ORDER_SHIPPED),
    StockLowV1: for_operators(Template.STOCK_LOW),
    LotExpiringV1: for_operators(Template.LOT_EXPIRING),
    LotExpiredV1: for_operators(Template.LOT_EXPIRED),
    LotRecalledV1: for_operators(Template.LOT_RECALLED),
    RecallCustomerAffectedV1: for_recall,
}


def notice_for(event: EventPayload) -> Notice | None:
    """The notice an event calls for by itself; None when it calls for none."""
    builder = BUILDERS.get(type(event))
    return builder(event) if builder else None
