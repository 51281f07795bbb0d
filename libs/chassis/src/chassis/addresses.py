"""Who a per-address limit counts as one client. Pure (the standard library's `ipaddress`): the
gateway's rate limits and membership's login backoff (its domain) count alike."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

# An IPv6 subscriber gets a whole /64 (often more) and can rotate through it at will.
IPV6_SUBSCRIBER_PREFIX = 64


@lru_cache(maxsize=4096)
def address_bucket(address: str) -> str:
    """What one client is counted as by a per-address limit: an IPv4 address, the /64 of an
    IPv6 one, anything else (not an address) as it is."""
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv4Address):
        return str(ip)
    if ip.ipv4_mapped is not None:  # ::ffff:a.b.c.d is the IPv4 client a.b.c.d
        return str(ip.ipv4_mapped)
    return str(ipaddress.ip_network(f"{ip}/{IPV6_SUBSCRIBER_PREFIX}", strict=False))
