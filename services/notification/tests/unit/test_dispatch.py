"""The dispatch job's retry schedule: each channel's policy and the waits between attempts."""

from __future__ import annotations

import pytest

from notification_service.config import NotificationSettings
from notification_service.domain.channels import Channel
from notification_service.domain.delivery import RetryPolicy
from notification_service.service.dispatch import retry_delay, retry_policy


def test_backoff_schedule_doubles_from_the_base() -> None:
    policy = RetryPolicy(max_attempts=5, backoff_seconds=0.2)
    waits = [retry_delay(policy, n) for n in range(1, policy.max_attempts)]
    assert waits == pytest.approx([0.2, 0.4, 0.8, 1.6])


def test_backoff_is_capped_and_never_overflows() -> None:
    policy = RetryPolicy(max_attempts=50, backoff_seconds=1.0, max_backoff_seconds=60.0)
    assert retry_delay(policy, 6) == 32.0
    assert retry_delay(policy, 7) == 60.0
    assert retry_delay(policy, 10_000) == 60.0
    with pytest.raises(ValueError):
        retry_delay(policy, 0)


def test_webhooks_have_their_own_schedule_and_email_and_sms_share_one() -> None:
    settings = NotificationSettings(
        webhook_max_attempts=7,
        webhook_backoff_seconds=0.5,
        message_max_attempts=3,
        message_backoff_seconds=2.0,
        retry_max_backoff_seconds=600.0,
    )
    assert retry_policy(settings, Channel.WEBHOOK) == RetryPolicy(7, 0.5, 600.0)
    assert retry_policy(settings, Channel.EMAIL) == RetryPolicy(3, 2.0, 600.0)
    assert retry_policy(settings, Channel.SMS) == retry_policy(settings, Channel.EMAIL)
