"""A member's choices of channels and consent, and what they allow. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass

from notification_service.domain.channels import Channel
from notification_service.domain.templates import Category


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
