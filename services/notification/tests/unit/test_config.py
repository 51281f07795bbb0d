from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from notification_service.config import NotificationSettings


def test_defaults() -> None:
    settings = NotificationSettings()
    assert settings.port == 8006
    assert settings.database_url == "sqlite+aiosqlite:///.data/notification.db"
    assert (settings.smtp_host, settings.smtp_port) == ("127.0.0.1", 1025)
    assert settings.webhook_allowed_hosts == ["127.0.0.1", "localhost"]
    assert (settings.webhook_max_attempts, settings.webhook_backoff_seconds) == (5, 0.2)
    assert settings.operator_emails == []
    # No order waits for it: larger, later batches (chassis.settings.OffPathSettings).
    assert (settings.kafka_batch_linger_ms, settings.kafka_fetch_max_wait_ms) == (250, 250)
    assert settings.cpu_nice == 10


def test_lists_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NOTIFICATION_OPERATOR_EMAILS", "ops@shop.example, stock@shop.example")
    monkeypatch.setenv("NOTIFICATION_WEBHOOK_ALLOWED_HOSTS", '["Hooks.Example.com"]')
    monkeypatch.setenv("NOTIFICATION_SMTP_PORT", "2525")
    settings = NotificationSettings()
    assert settings.operator_emails == ["ops@shop.example", "stock@shop.example"]
    assert settings.webhook_allowed_hosts == ["hooks.example.com"]
    assert settings.smtp_port == 2525


def test_refuses_nonsense() -> None:
    with pytest.raises(ValidationError):
        NotificationSettings(operator_locale="fr")
    with pytest.raises(ValidationError):  # a lease shorter than a send could take
        NotificationSettings(dispatch_lease_seconds=1, webhook_timeout_seconds=5)


def test_production_refuses_loopback_webhooks() -> None:
    production: dict[str, Any] = {
        "environment": "production",
        "database_url": "postgresql+asyncpg://db/notification",
        "jwt_issuer": "https://auth.shop.example",
        "jwks_url": "https://auth.shop.example/.well-known/jwks.json",
    }
    with pytest.raises(ValidationError, match="loopback"):
        NotificationSettings(**production)
    settings = NotificationSettings(**production, webhook_allowed_hosts=["hooks.partner.example"])
    assert not settings.webhooks_may_reach_private_addresses
    with pytest.raises(ValidationError, match="private network"):
        NotificationSettings(
            **production,
            webhook_allowed_hosts=["hooks.partner.example"],
            webhook_allow_private_addresses=True,
        )
