"""Webhook rules: which events may be subscribed to, how a forwarded event counts for the
member it concerns, and where a webhook may be sent. No I/O here."""

from __future__ import annotations

import ipaddress
from urllib.parse import urlsplit

from notification_service.domain.templates import Category
from shared_events.inventory import StockLowV1
from shared_events.membership import TierChangedV1
from shared_events.order import (
    OrderCancelledV1,
    OrderCompletedV1,
    OrderConfirmedV1,
    OrderDeliveredV1,
    OrderPlacedV1,
    OrderRejectedV1,
    OrderShippedV1,
)
from shared_events.payment import PaymentRefundedV1

# Events that admins may subscribe webhooks to: every one of them is consumed here. Events
# that carry personal data (registration: the email) or secrets (coupon codes) are not offered.
WEBHOOK_EVENT_TYPES = frozenset(
    model.event_type
    for model in (
        OrderPlacedV1,
        OrderConfirmedV1,
        OrderRejectedV1,
        OrderCancelledV1,
        OrderShippedV1,
        OrderDeliveredV1,
        OrderCompletedV1,
        PaymentRefundedV1,
        StockLowV1,
        TierChangedV1,
    )
)

# Fields of an offered event that are not passed on: a coupon code is the member's to spend
# (`order.order.placed` names the one it used).
WITHHELD_FIELDS = frozenset({"coupon_code"})

# How an event forwarded to webhooks counts for the member it concerns.
EVENT_CATEGORIES: dict[str, Category] = {
    TierChangedV1.event_type: Category.MARKETING,
    StockLowV1.event_type: Category.OPERATIONAL,
}


def event_category(event_type: str) -> Category:
    return EVENT_CATEGORIES.get(event_type, Category.TRANSACTIONAL)


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


_SITE_LOCAL = ipaddress.IPv6Network("fec0::/10")
# NAT64 for a local network (RFC 8215): where in it the IPv4 address sits depends on the prefix
# length the network chose, so it cannot be judged; private.
_LOCAL_NAT64 = ipaddress.IPv6Network("64:ff9b:1::/48")
# Prefixes whose last 32 bits are an IPv4 address: the well-known NAT64 prefix (RFC 6052),
# IPv4-compatible, and IPv4-translated (SIIT, RFC 2765: `::ffff:0:7f00:1` is 127.0.0.1; not the
# mapped form `::ffff:7f00:1`, which `ipv4_mapped` unwraps).
_IPV4_IN_LAST_32_BITS = (
    ipaddress.IPv6Network("64:ff9b::/96"),
    ipaddress.IPv6Network("::/96"),
    ipaddress.IPv6Network("::ffff:0:0:0/96"),
)


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.is_unspecified or ip.is_loopback:
        return None  # `::` and `::1` are themselves
    if any(ip in network for network in _IPV4_IN_LAST_32_BITS):
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    return None


def address_allowed(address: str, *, allow_private: bool) -> bool:
    """Whether a webhook may be sent to this resolved IP address. An allow-listed name can
    still resolve (or be re-pointed) to the loopback, the private network or the cloud's
    metadata address (169.254.169.254): only public addresses pass unless `allow_private`
    (development, where the receivers run on 127.0.0.1)."""
    try:
        ip = ipaddress.ip_address(address.split("%", 1)[0])  # drop an IPv6 zone id
    except ValueError:
        return False
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.teredo is not None or ip in _SITE_LOCAL:
            return False  # a tunnel to an address we cannot see; deprecated site-local
        if ip in _LOCAL_NAT64:
            return allow_private
        # An IPv4 address carried inside an IPv6 one (mapped, translated, NAT64, 6to4, the
        # deprecated IPv4-compatible form) is judged as that IPv4 address: `64:ff9b::a00:5`
        # is 10.0.0.5 behind a NAT64 gateway.
        ip = ip.ipv4_mapped or ip.sixtofour or _embedded_ipv4(ip) or ip
    if ip.is_multicast or ip.is_unspecified:
        return False
    if ip.is_global:
        return True
    return allow_private and (ip.is_private or ip.is_loopback or ip.is_link_local)
