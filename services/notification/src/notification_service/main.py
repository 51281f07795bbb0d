"""The notification service: chassis + routes + four consumers + three jobs (dispatch, the
expiry of parked messages, the dead-letter watch). It consumes membership, order, payment and
inventory events; it publishes notification.events."""

from __future__ import annotations

from typing import Any

from chassis.app import Job
from chassis.retention import RETENTION_FIRST_AFTER_SECONDS
from chassis.runtime import Runtime
from chassis.service import Service
from notification_service.adapters.channel import Channels
from notification_service.adapters.email import SmtpEmail
from notification_service.adapters.sms import SMS_PROVIDERS
from notification_service.adapters.webhook import WebhookSender
from notification_service.config import NotificationSettings
from notification_service.deps import NotificationRuntime, NotificationState
from notification_service.domain.channels import Channel
from notification_service.service import dead_letters, parking, retention
from notification_service.service.cache import NotificationCache
from notification_service.service.dispatch import send_due
from notification_service.service.rendering import Renderer
from shared_events.topics import NOTIFICATION_EVENTS


async def build_state(runtime: Runtime[NotificationSettings, Any]) -> NotificationState:
    """The cache (following the change feed in the service's Redis), the templates and the
    channel adapters, once per process."""
    settings = runtime.settings
    cache = NotificationCache(
        ttl_seconds=settings.cache_ttl_seconds,
        check_seconds=settings.cache_check_seconds,
        max_members=settings.cache_max_members,
    )
    cache.attach(runtime.redis, settings.redis_key_prefix)
    return NotificationState(cache=cache, renderer=Renderer(), channels=build_channels(settings))


def build_channels(settings: NotificationSettings) -> Channels:
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
        Channel.SMS: SMS_PROVIDERS[settings.sms_provider](),
        Channel.WEBHOOK: WebhookSender(
            allowed_hosts=frozenset(settings.webhook_allowed_hosts),
            timeout_seconds=settings.webhook_timeout_seconds,
            allow_private_addresses=settings.webhooks_may_reach_private_addresses,
        ),
    }


async def close_state(runtime: NotificationRuntime) -> None:
    """At shutdown, once the chassis has stopped the dispatch job and the consumers (Redis
    still open): the SMTP connections, the webhook client, the cache's publishes."""
    await runtime.state.close()


NOTIFICATION = Service(
    NotificationSettings,
    publishes=[NOTIFICATION_EVENTS],
    state=build_state,
    on_stop=[close_state],
    jobs=lambda settings: [
        Job("notification-dispatch", settings.dispatch_interval_seconds, send_due),
        Job("notification-parked-expiry", settings.parked_check_seconds, parking.expire),
        Job("notification-dead-letters", settings.dead_letter_check_seconds, dead_letters.watch),
        Job(
            "notification-delivery-retention",
            settings.retention_check_seconds,
            retention.delete_old_deliveries,
            min(settings.retention_check_seconds, RETENTION_FIRST_AFTER_SECONDS),
        ),
    ],
)
create_app = NOTIFICATION.create_app
