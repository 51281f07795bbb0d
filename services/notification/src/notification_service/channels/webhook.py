"""Webhooks: a signed JSON POST to an allow-listed host (httpx, with timeouts).

Redirects are not followed (a redirect could lead off the allow-list) and count as failures,
as does any answer but 2xx. The host is checked again at send time, so removing a host from
`webhook_allowed_hosts` stops its deliveries at once.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx

from notification_service.channels.base import DeliveryError, Message
from notification_service.domain import host_allowed
from notification_service.domain.signing import SIGNATURE_HEADER, signature_header

USER_AGENT = "commerce-suite-notification/1"


@dataclass(frozen=True)
class WebhookSender:
    allowed_hosts: frozenset[str]
    timeout_seconds: float = 5.0
    clock: Callable[[], float] = field(default=time.time)

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
        try:
            async with httpx.AsyncClient(
                timeout=httpx.Timeout(self.timeout_seconds), follow_redirects=False
            ) as client:
                response = await client.post(message.to, content=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook unreachable: {type(exc).__name__}") from exc
        if not response.is_success:
            raise DeliveryError(f"webhook answered HTTP {response.status_code}")
