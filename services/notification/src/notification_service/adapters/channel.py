"""What every channel adapter is: `send(message)`, raising `DeliveryError` when it fails, and
`close()` for what it keeps open (called on shutdown)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from notification_service.domain.channels import Channel


@dataclass(frozen=True, slots=True)
class Message:
    """One rendered message. `to` is an email address, a phone number or a webhook URL; a
    webhook's `text` is its JSON body and `secret` signs it."""

    delivery_id: str
    to: str
    subject: str
    text: str
    html: str | None = None
    secret: str | None = None


class DeliveryError(Exception):
    """The channel did not take the message. `permanent` ones are not retried (a refused
    address, a host that is no longer allowed); the rest are, with backoff."""

    def __init__(self, reason: str, *, permanent: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.permanent = permanent


class ChannelAdapter(Protocol):
    async def send(self, message: Message) -> None:
        """Deliver or raise DeliveryError; must return within the channel's timeout."""
        ...

    async def close(self) -> None:
        """Release what the adapter keeps open (connections, clients)."""
        ...


Channels = Mapping[Channel, ChannelAdapter]


async def close_channels(channels: Channels) -> None:
    """Close what the adapters keep open; on shutdown, once nothing sends any more."""
    for adapter in channels.values():
        await adapter.close()
