"""Small helpers the use cases share: the clock, UTC on read, what may be shown of an address."""

from __future__ import annotations

from datetime import UTC, datetime

from chassis.logging import mask_email
from chassis.runtime import Runtime
from notification_service.config import NotificationSettings
from notification_service.domain import Channel, mask_phone

MAX_ERROR_LENGTH = 500


def now() -> datetime:
    return datetime.now(UTC)


def as_utc(value: datetime) -> datetime:
    """SQLite hands timestamps back without a zone; they were written in UTC."""
    return value if value.tzinfo else value.replace(tzinfo=UTC)


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


def settings_of(runtime: Runtime) -> NotificationSettings:
    settings = runtime.settings
    assert isinstance(settings, NotificationSettings)
    return settings
