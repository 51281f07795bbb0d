"""What may be shown of an address or an error: in the log, the API and the events."""

from __future__ import annotations

from chassis.logging import mask_email
from notification_service.domain.channels import Channel, mask_phone

MAX_ERROR_LENGTH = 500


def display_recipient(channel: str, recipient: str) -> str:
    """An address as the log, the API and the events show it: `a***@example.com`,
    `**********8000`; a webhook's recipient is its subscription id, which is no secret."""
    if channel == Channel.EMAIL:
        return mask_email(recipient)
    if channel == Channel.SMS:
        return mask_phone(recipient)
    return recipient


def error_text(error: BaseException | str) -> str:
    """An error as it is stored and published: addresses masked, length bounded."""
    return mask_email(str(error))[:MAX_ERROR_LENGTH]
