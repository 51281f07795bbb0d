"""Who the client is behind proxies: `X-Forwarded-For` is believed only from trusted peers.

Any client can send `X-Forwarded-For`; taking it at its word lets an attacker rotate it to
escape per-address limits. So the peer of the TCP connection is the client, unless that peer is
a trusted proxy (the gateway, for a service; a load balancer, for the gateway), in which case
the nearest hop in the header that is not itself trusted is. No I/O here.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable
from functools import lru_cache
from typing import TYPE_CHECKING, Annotated

from pydantic import AfterValidator

if TYPE_CHECKING:
    from starlette.datastructures import Headers

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=64)
def _networks(trusted: tuple[str, ...]) -> tuple[Network, ...]:
    # Addresses ("10.0.0.1") and networks ("10.0.0.0/8") alike; strict=False accepts both.
    return tuple(ipaddress.ip_network(entry.strip(), strict=False) for entry in trusted)


def valid_networks(trusted: Iterable[str]) -> list[str]:
    """For a settings validator: the entries as given, or ValueError naming a bad one (found
    at start-up, not on the first request)."""
    entries = list(trusted)
    for entry in entries:
        try:
            _networks((entry,))
        except ValueError:
            raise ValueError(f"not an address or network: {entry!r}") from None
    return entries


# A settings field of the peers whose X-Forwarded-For is believed: a bad entry stops the
# service at start-up with its name, instead of failing every request that reads it.
TrustedProxies = Annotated[list[str], AfterValidator(valid_networks)]


def is_trusted(address: str, trusted: Iterable[str]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in _networks(tuple(trusted)))


def forwarded_chain(headers: Headers) -> str | None:
    """The request's X-Forwarded-For as one list: a proxy may add a line of its own rather than
    append to the client's, and several lines are one list, in order (RFC 9110 section 5.3)."""
    return ", ".join(headers.getlist("x-forwarded-for")) or None


def client_address(peer: str | None, forwarded_for: str | None, trusted: Iterable[str]) -> str:
    """The client: the peer, unless the peer is a trusted proxy; then the nearest address in
    X-Forwarded-For (read from the right) that is not a trusted proxy. A garbled hop ends the
    walk at the last address we could trust."""
    trusted = tuple(trusted)
    address = peer or "unknown"
    if not forwarded_for or not is_trusted(address, trusted):
        return address
    for hop in reversed([h.strip() for h in forwarded_for.split(",") if h.strip()]):
        try:
            ipaddress.ip_address(hop)
        except ValueError:
            return address  # a forged or garbled header: count the proxy itself
        if not is_trusted(hop, trusted):
            return hop
        address = hop
    return address
