"""SMS. Only the sandbox exists: it keeps messages in memory and sends nothing, which is what
development and tests need until a provider is chosen (and members have phone numbers)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from notification_service.adapters.channel import DeliveryError, Message

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# One SMS segment of UCS-2 text (Chinese) is 70 characters; longer texts are cut here.
MAX_LENGTH = 70


@dataclass(frozen=True, slots=True)
class SentSms:
    delivery_id: str
    to: str
    text: str
    at: datetime


@dataclass
class SandboxSms:
    sent: list[SentSms] = field(default_factory=list)

    async def send(self, message: Message) -> None:
        if not E164.match(message.to):
            raise DeliveryError("not an E.164 phone number", permanent=True)
        text = message.subject[:MAX_LENGTH]
        self.sent.append(SentSms(message.delivery_id, message.to, text, datetime.now(UTC)))

    def messages_to(self, phone: str) -> list[SentSms]:
        return [sms for sms in self.sent if sms.to == phone]

    async def close(self) -> None:
        """Nothing is kept open."""


# NOTIFICATION_SMS_PROVIDER -> the adapter; the settings refuse any other name.
SMS_PROVIDERS = {"sandbox": SandboxSms}
