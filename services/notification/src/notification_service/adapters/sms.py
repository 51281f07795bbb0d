"""SMS. Only the sandbox exists: it keeps messages in memory and sends nothing, which is what
development and tests need until a provider is chosen. Members' numbers come from the
`membership.member.*` events (service/recipients.py)."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime

from notification_service.adapters.channel import DeliveryError, Message

E164 = re.compile(r"^\+[1-9]\d{6,14}$")
# One SMS segment of UCS-2 text (Chinese) is 70 characters; a longer text goes as a
# concatenated SMS of 67-character segments, at most MAX_SEGMENTS of them (a recall notice
# needs three or four); anything longer is cut.
SEGMENT = 70
CONCATENATED_SEGMENT = 67
MAX_SEGMENTS = 5
MAX_LENGTH = CONCATENATED_SEGMENT * MAX_SEGMENTS


def segments(text: str) -> int:
    """How many SMS segments `text` takes (UCS-2, the encoding Chinese text needs)."""
    if len(text) <= SEGMENT:
        return 1
    return -(-len(text) // CONCATENATED_SEGMENT)


@dataclass(frozen=True, slots=True)
class SentSms:
    delivery_id: str
    to: str
    text: str
    at: datetime

    @property
    def segments(self) -> int:
        return segments(self.text)


@dataclass
class SandboxSms:
    sent: list[SentSms] = field(default_factory=list)

    async def send(self, message: Message) -> None:
        if not E164.match(message.to):
            raise DeliveryError("not an E.164 phone number", permanent=True)
        text = message.text[:MAX_LENGTH]  # the SMS text (service/rendering.py)
        self.sent.append(SentSms(message.delivery_id, message.to, text, datetime.now(UTC)))

    def messages_to(self, phone: str) -> list[SentSms]:
        return [sms for sms in self.sent if sms.to == phone]

    async def close(self) -> None:
        """Nothing is kept open."""


# NOTIFICATION_SMS_PROVIDER -> the adapter; the settings refuse any other name.
SMS_PROVIDERS = {"sandbox": SandboxSms}
