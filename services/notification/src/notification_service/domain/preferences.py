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
        """Transactional: unless the channel is opted out. Marketing: with consent too.
        Safety: always. A recall notice is not ours to withhold: food-safety and product-
        safety law (China's Food Safety Law art. 63, the EU's General Product Safety
        Regulation art. 35-36) oblige the seller to tell the buyers of a recalled batch
        directly, and an opt-out covers service and marketing messages, not that duty. So
        neither consent nor a channel opt-out skips it; it only goes where we have an
        address (no phone number, no SMS)."""
        if category is Category.SAFETY:
            return True
        if category is Category.MARKETING and not self.marketing_consent:
            return False
        return self.channel_enabled(channel)
