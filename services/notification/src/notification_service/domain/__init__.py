"""Notification rules: channels, templates and categories, preferences, retries, formats,
webhook signatures, and which notice an event calls for. No I/O here."""

from notification_service.domain.model import (
    DEFAULT_LOCALE,
    DUE_STATUSES,
    LOCALES,
    TIER_RANK,
    WEBHOOK_EVENT_TYPES,
    Category,
    Channel,
    DeliveryStatus,
    Preferences,
    RetryPolicy,
    Template,
    event_category,
    host_allowed,
    is_upgrade,
    mask_phone,
    resolve_locale,
)
from notification_service.domain.notices import Notice, for_refund, notice_for

__all__ = [
    "DEFAULT_LOCALE",
    "DUE_STATUSES",
    "LOCALES",
    "TIER_RANK",
    "WEBHOOK_EVENT_TYPES",
    "Category",
    "Channel",
    "DeliveryStatus",
    "Notice",
    "Preferences",
    "RetryPolicy",
    "Template",
    "event_category",
    "for_refund",
    "host_allowed",
    "is_upgrade",
    "mask_phone",
    "notice_for",
    "resolve_locale",
]
