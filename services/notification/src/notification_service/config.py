"""The notification service's settings: NOTIFICATION_* environment variables."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import NoDecode

from chassis.settings import DEV_PORTS, OffPathSettings
from notification_service.domain.delivery import RECORD_SECONDS, RetryPolicy
from notification_service.domain.locales import DEFAULT_LOCALE, LOCALES

# services/notification/migrations: shipped beside the package in the image.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1", "[::1]"})

# A list from the environment: a JSON array or comma-separated values.
EnvList = Annotated[list[str], NoDecode]


class NotificationSettings(OffPathSettings, env_prefix="NOTIFICATION_"):
    """Environment variables: NOTIFICATION_PORT, NOTIFICATION_DATABASE_URL,
    NOTIFICATION_SMTP_HOST, NOTIFICATION_OPERATOR_EMAILS, ... plus the suite-wide ones."""

    service_name: str = "notification"
    port: int = DEV_PORTS["notification"]

    # Email through SMTP. The defaults point at a local development mail catcher.
    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(default=1025, ge=1, le=65535)
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_timeout_seconds: float = Field(default=10.0, gt=0)
    mail_from: str = "Commerce Suite <no-reply@commerce-suite.dev>"

    # Connections to the mail server kept open and reused (at most this many at once); one
    # idle longer than `smtp_idle_seconds` is closed rather than reused.
    smtp_pool_size: int = Field(default=4, ge=1)
    smtp_idle_seconds: float = Field(default=30.0, gt=0)

    # Preferences and webhook subscriptions are cached in each replica's memory (see
    # service/cache.py). A replica's own changes apply at once; other replicas' are read from a
    # change feed in Redis every `cache_check_seconds`, so they apply within about that long.
    # No entry is older than `cache_ttl_seconds` (the bound should a change be lost); 0 turns
    # the cache off.
    cache_check_seconds: float = Field(default=1.0, gt=0)
    cache_ttl_seconds: float = Field(default=60.0, ge=0)
    cache_max_members: int = Field(default=10_000, ge=1)

    # Who hears about low stock, and in which language.
    operator_emails: EnvList = Field(default_factory=list)
    operator_locale: str = DEFAULT_LOCALE
    # Dead letters (records a consumer of the suite could not handle, in `<topic>.dlq`): how
    # often the DLQs' end offsets are read, and the least time between two emails about one
    # DLQ (the next one counts what arrived meanwhile). Sent to `operator_emails`.
    dead_letter_check_seconds: float = Field(default=30.0, gt=0)
    dead_letter_alert_minutes: float = Field(default=15.0, ge=0)

    # SMS (to the phone numbers of `membership.member.*`): only the in-memory sandbox exists so
    # far.
    sms_provider: str = Field(default="sandbox", pattern="^sandbox$")

    # Webhooks: subscribers' hosts must be listed here (exact host names).
    webhook_allowed_hosts: EnvList = Field(default_factory=lambda: ["127.0.0.1", "localhost"])
    # Whether an allow-listed host may resolve to a loopback or private address. Unset: yes in
    # development and tests (their receivers run on 127.0.0.1), no in production, which
    # refuses an explicit yes.
    webhook_allow_private_addresses: bool | None = None
    webhook_max_attempts: int = Field(default=5, ge=1)
    webhook_backoff_seconds: float = Field(default=0.2, ge=0)
    webhook_timeout_seconds: float = Field(default=5.0, gt=0)

    # Email and SMS retries (a mail server that is down for a while is normal).
    message_max_attempts: int = Field(default=5, ge=1)
    message_backoff_seconds: float = Field(default=2.0, ge=0)
    # No wait between two attempts is ever longer than this.
    retry_max_backoff_seconds: float = Field(default=3600.0, gt=0)

    # The dispatch job: how often it looks for due deliveries, how many it takes per round,
    # how many it sends at once, and how long a taken delivery stays reserved for it (a
    # replica that dies mid-send leaves it to be retried once the lease runs out).
    dispatch_interval_seconds: float = Field(default=0.5, gt=0)
    dispatch_batch_size: int = Field(default=50, ge=1)
    dispatch_concurrency: int = Field(default=10, ge=1)
    dispatch_lease_seconds: float = Field(default=120.0, gt=0)

    # A message to a member not known here yet is parked until their registration is
    # handled; one parked longer than this is deleted (a member that never registers here,
    # e.g. one created before this service existed). The job looks every
    # `parked_check_seconds`.
    parked_retention_days: int = Field(default=7, ge=1)
    parked_check_seconds: float = Field(default=3600.0, gt=0)

    # A delivery that is final (SENT, FAILED) is kept this long after its last change, then
    # deleted with its message (service/retention.py), every `retention_check_seconds`.
    delivery_keep_days: int = Field(default=90, ge=1)

    @field_validator("operator_emails", "webhook_allowed_hosts", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                return json.loads(text)
            return [item.strip() for item in text.split(",") if item.strip()]
        return value

    @field_validator("operator_locale")
    @classmethod
    def _known_locale(cls, value: str) -> str:
        if value not in LOCALES:
            raise ValueError(f"operator_locale must be one of {', '.join(LOCALES)}")
        return value

    @field_validator("webhook_allowed_hosts")
    @classmethod
    def _lower_hosts(cls, value: list[str]) -> list[str]:
        return [host.lower() for host in value]

    @model_validator(mode="after")
    def _lease_outlasts_a_send(self) -> NotificationSettings:
        # A round's sends are given up RECORD_SECONDS before its lease ends.
        longest = max(self.smtp_timeout_seconds, self.webhook_timeout_seconds)
        if self.dispatch_lease_seconds <= longest + RECORD_SECONDS:
            raise ValueError(
                "dispatch_lease_seconds must exceed the SMTP and webhook timeouts by "
                f"{RECORD_SECONDS:g} s"
            )
        return self

    def production_problems(self) -> list[str]:
        problems = []
        if LOOPBACK_HOSTS & set(self.webhook_allowed_hosts):
            problems.append("webhook_allowed_hosts lets webhooks reach loopback addresses")
        if self.webhook_allow_private_addresses:
            problems.append(
                "webhook_allow_private_addresses lets webhooks reach the private network"
            )
        return problems

    @property
    def webhooks_may_reach_private_addresses(self) -> bool:
        if self.webhook_allow_private_addresses is None:
            return self.environment != "production"
        return self.webhook_allow_private_addresses

    def email_policy(self) -> RetryPolicy:
        return RetryPolicy(
            self.message_max_attempts, self.message_backoff_seconds, self.retry_max_backoff_seconds
        )

    def webhook_policy(self) -> RetryPolicy:
        return RetryPolicy(
            self.webhook_max_attempts, self.webhook_backoff_seconds, self.retry_max_backoff_seconds
        )
