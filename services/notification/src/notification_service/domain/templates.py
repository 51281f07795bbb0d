"""Template names and the category each message belongs to. No I/O here."""

from __future__ import annotations

from enum import StrEnum


class Category(StrEnum):
    """Transactional messages go out unless the channel is opted out; marketing ones also
    need consent; operational ones go to operators, who have no member preferences; safety
    notices (a recall of something the member bought) go out on every channel the member has,
    whatever their preferences (`Preferences.allows` says why)."""

    TRANSACTIONAL = "TRANSACTIONAL"
    MARKETING = "MARKETING"
    OPERATIONAL = "OPERATIONAL"
    SAFETY = "SAFETY"


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
    LOT_EXPIRING = "lot_expiring"
    LOT_EXPIRED = "lot_expired"
    LOT_RECALLED = "lot_recalled"
    RECALL_NOTICE = "recall_notice"
    DEAD_LETTERS = "dead_letters"  # records a consumer could not handle (service/dead_letters)

    @property
    def category(self) -> Category:
        if self in (Template.TIER_UPGRADED, Template.COUPON_ISSUED):
            return Category.MARKETING
        if self in _OPERATIONAL:
            return Category.OPERATIONAL
        if self is Template.RECALL_NOTICE:
            return Category.SAFETY
        return Category.TRANSACTIONAL


_OPERATIONAL = frozenset(
    {
        Template.STOCK_LOW,
        Template.LOT_EXPIRING,
        Template.LOT_EXPIRED,
        Template.LOT_RECALLED,
        Template.DEAD_LETTERS,
    }
)

# Kept when parked past the retention (service/parking.py): telling a buyer of a recalled batch
# is a legal duty that no retention setting may drop.
SAFETY_TEMPLATES = frozenset(t for t in Template if t.category is Category.SAFETY)
