"""Template names and the category each message belongs to. No I/O here."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """Transactional messages go out unless the channel is opted out; marketing ones also
    need consent; operational ones go to operators, who have no member preferences."""

    TRANSACTIONAL = "TRANSACTIONAL"
    MARKETING = "MARKETING"
    OPERATIONAL = "OPERATIONAL"


class Template(StrEnum):
    """Template names: `service/templates/<locale>/<name>.subject` and `.txt`."""

    WELCOME = "welcome"
    COUPON_ISSUED = "coupon_issued"
    ORDER_CONFIRMED = "order_confirmed"
    ORDER_REJECTED = "order_rejected"
    ORDER_CANCELLED = "order_cancelled"
    ORDER_SHIPPED = "order_shipped"
    PAYMENT_REFUNDED = "payment_refunded"
    TIER_UPGRADED = "tier_upgraded"
    STOCK_LOW = "stock_low"

    @property
    def category(self) -> Category:
        if self in (Template.TIER_UPGRADED, Template.COUPON_ISSUED):
            return Category.MARKETING
        if self is Template.STOCK_LOW:
            return Category.OPERATIONAL
        return Category.TRANSACTIONAL
