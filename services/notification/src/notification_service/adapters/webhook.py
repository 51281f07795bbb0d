"""Webhooks: a signed JSON POST to an allow-listed host (httpx, with timeouts).

Redirects are not followed (a redirect could lead off the allow-list) and count as failures,
as does any answer but 2xx. The host is checked again at send time, so removing a host from
`webhook_allowed_hosts` stops its deliveries at once. The name is resolved here, every address
it resolves to is checked (no loopback, private or metadata address unless
`webhook_allow_private_addresses`), and the request is sent to the address that was checked,
with the name as Host and TLS server name, so DNS cannot change the answer in between.

One client serves every POST (its TLS context is built once, not per call) but keeps no
connection between two of them: its pool is keyed by the address, and a connection opened
(and verified) for one host name must not carry a request for another name on that address.
`close()` closes the client (the app calls it on shutdown).
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from notification_service.adapters.channel import DeliveryError, Message
from notification_service.domain.signing import SIGNATURE_HEADER, signature_header
from notification_service.domain.webhooks import address_allowed, host_allowed

USER_AGENT = "commerce-suite-notification/1"
# Name lookups run on the loop's default thread pool, and one that stalls keeps its thread
# after its send gave up waiting: at most this many at once per sender, so stalled lookups
# cannot take every thread of the pool (the database's and Redis' reconnects resolve there).
MAX_LOOKUPS_IN_FLIGHT = 4


@dataclass
class _InFlight:
    """Name lookups started and not finished (a stalled one counts until its thread ends)."""

    count: int = 0

    def done(self, lookup: asyncio.Future[Any]) -> None:
        self.count -= 1
        if not lookup.cancelled():
            lookup.exception()  # retrieved: one that failed after its send gave up is no news


def one_shot_client() -> httpx.AsyncClient:
    """A client that opens a connection per request and keeps none (see the module's doc)."""
    return httpx.AsyncClient(
        follow_redirects=False, limits=httpx.Limits(max_keepalive_connections=0)
    )


@dataclass(frozen=True)
class WebhookSender:
    allowed_hosts: frozenset[str]
    timeout_seconds: float = 5.0
    allow_private_addresses: bool = False
    clock: Callable[[], float] = field(default=time.time)
    client: httpx.AsyncClient = field(default_factory=one_shot_client)
    lookups: _InFlight = field(default_factory=_InFlight)

    async def send(self, message: Message) -> None:
        if not host_allowed(message.to, self.allowed_hosts):
            raise DeliveryError("the webhook host is not allowed", permanent=True)
        if not message.secret:
            raise DeliveryError("the webhook subscription has no secret", permanent=True)
        body = message.text.encode()
        headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Webhook-Id": message.delivery_id,
            SIGNATURE_HEADER: signature_header(message.secret, int(self.clock()), body),
        }
        url = httpx.URL(message.to)
        # The host as it goes on the wire (IDNA, `xn--...`): the name that was allow-listed is
        # the name resolved and checked in TLS (`url.host` is Unicode, which the resolver and
        # TLS would encode by IDNA 2003: `straße` as `strasse`, another domain).
        host = url.raw_host.decode("ascii")
        headers["Host"] = url.netloc.decode("ascii")
        try:
            # One deadline for the whole exchange, the name's resolution included (a stalled
            # DNS server would hold the dispatch round as long as the resolver's own retries;
            # httpx's timeouts are per read: a receiver sending a byte every few seconds would
            # hold it for ever), and the answer's body is never read (an endless one would
            # fill memory).
            async with asyncio.timeout(self.timeout_seconds):
                pinned = url.copy_with(host=await self._checked_address(url, host))
                async with self.client.stream(
                    "POST",
                    pinned,
                    content=body,
                    headers=headers,
                    timeout=httpx.Timeout(self.timeout_seconds),
                    extensions={"sni_hostname": host},
                ) as response:
                    status = response.status_code
        except TimeoutError as exc:
            raise DeliveryError("webhook did not resolve or answer in time") from exc
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}") from exc
        if not 200 <= status < 300:
            raise DeliveryError(f"webhook answered HTTP {status}")

    async def _checked_address(self, url: httpx.URL, host: str) -> str:
        """The address to connect to: the first `host` resolves to, once every one of them
        has passed `address_allowed`. Awaited within the send's deadline, which fails the
        send (to be retried) without waiting for a stalled resolver's thread to finish."""
        port = url.port or (443 if url.scheme == "https" else 80)
        if self.lookups.count >= MAX_LOOKUPS_IN_FLIGHT:
            raise DeliveryError("name lookups are stalled; the webhook is tried again later")
        self.lookups.count += 1
        lookup = asyncio.ensure_future(
            asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        )
        lookup.add_done_callback(self.lookups.done)
        try:
            # Shielded: the deadline ends the wait, not the lookup's count, which its thread
            # holds until it ends.
            infos = await asyncio.shield(lookup)
        except OSError as exc:
            raise DeliveryError(f"webhook host does not resolve: {exc.strerror}") from exc
        addresses = [str(info[4][0]) for info in infos]
        if not addresses or not all(
            address_allowed(a, allow_private=self.allow_private_addresses) for a in addresses
        ):
            raise DeliveryError("the webhook host resolves to a refused address", permanent=True)
        return addresses[0]

    async def close(self) -> None:
        await self.client.aclose()
