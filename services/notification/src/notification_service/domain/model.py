"""What a notification is and who may get it: channels, templates and their category,
preferences, locales, the retry schedule. No I/O here."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum
from urllib.parse import urlsplit


class Channel(StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    WEBHOOK = "WEBHOOK"


class DeliveryStatus(StrEnum):
    """PENDING and RETRY are due at `next_attempt_at`; SENT and FAILED are final."""

    PENDING = "PENDING"
    SENT = "SENT"
    RETRY = "RETRY"
    FAILED = "FAILED"


DUE_STATUSES = frozenset({DeliveryStatus.PENDING, DeliveryStatus.RETRY})


class Category(StrEnum):
    """Transactional messages go out unless the channel is opted out; marketing ones also
    need consent; operational ones go to operators, who have no member preferences."""

    TRANSACTIONAL = "TRANSACTIONAL"
    MARKETING = "MARKETING"
    OPERATIONAL = "OPERATIONAL"


class Template(StrEnum):
    """Template names: `templates/<locale>/<name>.subject` and `.txt`."""

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


# Events that admins may subscribe webhooks to: every one of them is consumed here. Events
# that carry personal data (registration: the email) or secrets (coupon codes) are not offered.
WEBHOOK_EVENT_TYPES = frozenset(
    {
        "order.order.placed",
        "order.order.confirmed",
        "order.order.rejected",
        "order.order.cancelled",
        "order.order.shipped",
        "order.order.delivered",
        "order.order.completed",
        "payment.payment.refunded",
        "inventory.stock.low",
        "membership.tier.changed",
    }
)

# How an event forwarded to webhooks counts for the member it concerns.
EVENT_CATEGORIES: dict[str, Category] = {
    "membership.tier.changed": Category.MARKETING,
    "inventory.stock.low": Category.OPERATIONAL,
}


def event_category(event_type: str) -> Category:
    return EVENT_CATEGORIES.get(event_type, Category.TRANSACTIONAL)


LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


def resolve_locale(value: str | None, default: str = DEFAULT_LOCALE) -> str:
    """A supported locale for what a member chose: `en-GB` -> `en`, unknown -> the default."""
    if not value:
        return default
    if value in LOCALES:
        return value
    language = value.replace("_", "-").split("-", 1)[0].lower()
    if language == "zh":
        return "zh-CN"
    return language if language in LOCALES else default


@dataclass(frozen=True, slots=True)
class Preferences:
    """A member's choices. Defaults: every channel on, marketing off."""

    email: bool = True
    sms: bool = True
    webhook: bool = True
    marketing_consent: bool = False

    def channel_enabled(self, channel: Channel) -> bool:
        enabled: bool = getattr(self, channel.value.lower())
        return enabled

    def allows(self, channel: Channel, category: Category) -> bool:
        """Transactional: unless the channel is opted out. Marketing: with consent too."""
        if category is Category.MARKETING and not self.marketing_consent:
            return False
        return self.channel_enabled(channel)


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: after failed attempt n the next one waits backoff * 2**(n-1),
    capped; after `max_attempts` attempts (or a permanent error) the delivery FAILED."""

    max_attempts: int
    backoff_seconds: float
    max_backoff_seconds: float = 3600.0

    def delay_after(self, attempt: int) -> float:
        if attempt < 1:
            raise ValueError("attempts are counted from 1")
        # The exponent is bounded so a huge attempt number cannot overflow a float.
        return float(
            min(self.backoff_seconds * 2 ** min(attempt - 1, 60), self.max_backoff_seconds)
        )

    def schedule(self) -> list[float]:
        """The waits between attempts: max_attempts - 1 of them."""
        return [self.delay_after(n) for n in range(1, self.max_attempts)]

    def after_failure(self, attempts: int, *, permanent: bool = False) -> DeliveryStatus:
        if permanent or attempts >= self.max_attempts:
            return DeliveryStatus.FAILED
        return DeliveryStatus.RETRY


TIER_RANK = {"BRONZE": 0, "SILVER": 1, "GOLD": 2, "PLATINUM": 3}


def is_upgrade(old_tier: str, new_tier: str) -> bool:
    """True when the new tier ranks higher; an unknown tier is never an upgrade."""
    if new_tier not in TIER_RANK:
        return False
    return TIER_RANK[new_tier] > TIER_RANK.get(old_tier, -1)


def host_allowed(url: str, allowed_hosts: list[str] | frozenset[str]) -> bool:
    """An http(s) URL whose host is exactly one of `allowed_hosts` (case-insensitive), with
    no credentials in it."""
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not host or parts.username or parts.password:
        return False
    return host.lower() in {h.lower() for h in allowed_hosts}


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """Whether a webhook may be sent to this resolved IP address. An allow-listed name can
    still resolve (or be re-pointed) to the loopback, the private network or the cloud's
    metadata address (169.254.169.254): only public addresses pass unless `allow_private`
    (development, where the receivers run on 127.0.0.1)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    if ip.is_multicast or ip.is_unspecified:
        return False
    if ip.is_global:
        return True
    return allow_private and (ip.is_private or ip.is_loopback or ip.is_link_local)


def mask_phone(phone: str) -> str:
    """`+8613800138000` -> `**********8000`."""
    if len(phone) <= 4:
        return "*" * len(phone)
    return "*" * (len(phone) - 4) + phone[-4:]
