"""Channel adapters behind one Protocol: SMTP email, sandbox SMS, signed webhooks."""

from __future__ import annotations

from collections.abc import Mapping

from notification_service.channels.base import ChannelAdapter, DeliveryError, Message
from notification_service.channels.email import SmtpEmail
from notification_service.channels.sms import SandboxSms
from notification_service.channels.webhook import WebhookSender
from notification_service.config import NotificationSettings
from notification_service.domain import Channel

Channels = Mapping[Channel, ChannelAdapter]


def default_channels(settings: NotificationSettings) -> dict[Channel, ChannelAdapter]:
    password = settings.smtp_password.get_secret_value() if settings.smtp_password else None
    return {
        Channel.EMAIL: SmtpEmail(
            host=settings.smtp_host,
            port=settings.smtp_port,
            mail_from=settings.mail_from,
            username=settings.smtp_username,
            password=password,
            starttls=settings.smtp_starttls,
            timeout_seconds=settings.smtp_timeout_seconds,
            pool_size=settings.smtp_pool_size,
            idle_seconds=settings.smtp_idle_seconds,
        ),
        Channel.SMS: SandboxSms(),
        Channel.WEBHOOK: WebhookSender(
            allowed_hosts=frozenset(settings.webhook_allowed_hosts),
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_private_addresses=settings.webhooks_may_reach_private_addresses,
        ),
    }


async def close_channels(channels: Mapping[Channel, ChannelAdapter]) -> None:
    """Close what the adapters keep open (the SMTP connections); on shutdown."""
    for adapter in channels.values():
        close = getattr(adapter, "close", None)
        if close is not None:
            await close()


__all__ = [
    "ChannelAdapter",
    "Channels",
    "DeliveryError",
    "Message",
    "SandboxSms",
    "SmtpEmail",
    "WebhookSender",
    "close_channels",
    "default_channels",
]
