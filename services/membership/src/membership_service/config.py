"""Membership settings: the MEMBERSHIP_* environment variables (and the bootstrap admin's
unprefixed ones), and where its migrations are."""

from __future__ import annotations

from pathlib import Path

from pydantic import AliasChoices, Field, SecretStr, model_validator

from chassis.forwarding import TrustedProxies
from chassis.settings import DEV_PORTS, ServiceSettings
from membership_service.domain.accounts import PASSWORD_MIN_LENGTH
from membership_service.domain.attempts import AttemptPolicy
from membership_service.domain.tiers import Tier, TierRule, TierTable

# services/membership/migrations: shipped beside the package in the image.
MIGRATIONS_DIR = Path(__file__).resolve().parents[2] / "migrations"

# Development defaults, clearly marked: production settings refuse to start with the password.
DEV_ADMIN_EMAIL = "admin@example.com"
DEV_ADMIN_PASSWORD = "dev-admin-password"  # noqa: S105 - a marked development default

DAY = 24 * 3600


class MembershipSettings(ServiceSettings, env_prefix="MEMBERSHIP_"):
    """Environment variables: MEMBERSHIP_PORT, MEMBERSHIP_DATABASE_URL,
    MEMBERSHIP_SIGNING_KEY_PEM, ... plus the suite-wide ones (and the unprefixed
    BOOTSTRAP_ADMIN_EMAIL / BOOTSTRAP_ADMIN_PASSWORD)."""

    service_name: str = "membership"
    port: int = DEV_PORTS["membership"]

    # Access tokens: EdDSA (Ed25519). The key is a PKCS8 PEM; without one (development and
    # test only) a key is generated once and kept in the database for every replica.
    signing_key_pem: SecretStr | None = None
    signing_key_id: str | None = Field(default=None, max_length=64)  # default: RFC 7638 id
    # Rotation: the key signing before, still published in the JWKS (verification only).
    previous_signing_key_pem: SecretStr | None = None
    access_ttl_seconds: int = Field(default=900, ge=1, le=24 * 3600)
    refresh_ttl_seconds: int = Field(default=30 * DAY, ge=60)

    # Created (once) at start-up; production refuses the development password.
    bootstrap_admin_email: str = Field(
        default=DEV_ADMIN_EMAIL, validation_alias=AliasChoices("BOOTSTRAP_ADMIN_EMAIL")
    )
    bootstrap_admin_password: SecretStr = Field(
        default=SecretStr(DEV_ADMIN_PASSWORD),
        validation_alias=AliasChoices("BOOTSTRAP_ADMIN_PASSWORD"),
    )

    # Password guessing and enumeration (domain/attempts.py): backoff gates, each with the
    # failures it lets through before the first delay. Nobody waits longer than the cap.
    login_max_failures_per_ip_and_email: int = Field(default=5, ge=1)
    login_max_failures_per_ip: int = Field(default=20, ge=1)  # lifted for a proven address
    login_max_failures_per_email: int = Field(default=5, ge=1)  # lifted for a proven address
    login_backoff_base_seconds: float = Field(default=1.0, gt=0)
    login_backoff_max_seconds: float = Field(default=60.0, gt=0)
    login_failure_memory_seconds: int = Field(default=900, ge=1)  # after the last failure
    login_proven_ttl_seconds: int = Field(default=30 * DAY, ge=60)  # after the last success
    # "This email is taken" answers to one address before registrations from it back off.
    register_max_taken_per_ip: int = Field(default=5, ge=1)
    # Peers whose X-Forwarded-For is believed: the gateway. Loopback suits `make run`, where
    # the gateway is on this host; elsewhere set the gateway's addresses or networks.
    trusted_proxies: TrustedProxies = Field(default_factory=lambda: ["127.0.0.1", "::1"])

    # Tiers by CNY spend over the rolling window, in minor units; member price in percent.
    tier_window_days: int = Field(default=365, ge=1)
    tier_silver_spend: int = Field(default=100_000, ge=1)
    tier_silver_discount_percent: int = Field(default=2, ge=0, le=100)
    tier_gold_spend: int = Field(default=500_000, ge=1)
    tier_gold_discount_percent: int = Field(default=5, ge=0, le=100)
    tier_platinum_spend: int = Field(default=2_000_000, ge=1)
    tier_platinum_discount_percent: int = Field(default=8, ge=0, le=100)
    # How often the job looks for tiers whose spend left the window, and how stale a tier
    # may get before it is looked at again.
    tier_review_check_seconds: float = Field(default=3600.0, gt=0)
    tier_review_after_seconds: int = Field(default=DAY, ge=1)

    # Points: earned per 1.00 CNY of an order's total (floor); worth 1.00 CNY off per
    # `points_per_yuan_off` points at checkout; expire after `points_ttl_days`.
    points_per_yuan: int = Field(default=1, ge=0)
    points_per_yuan_off: int = Field(default=100, ge=1)
    points_ttl_days: int = Field(default=365, ge=1)
    points_expiry_check_seconds: float = Field(default=60.0, gt=0)
    job_batch_size: int = Field(default=100, ge=1)

    # Coupons (CNY minor units).
    welcome_coupon_amount_off: int = Field(default=1_000, ge=1)
    welcome_coupon_min_spend: int = Field(default=5_000, ge=0)
    welcome_coupon_valid_days: int = Field(default=30, ge=1)
    first_order_coupon_amount_off: int = Field(default=2_000, ge=1)
    first_order_coupon_min_spend: int = Field(default=10_000, ge=0)
    first_order_coupon_valid_days: int = Field(default=90, ge=1)

    @property
    def tiers(self) -> TierTable:
        return TierTable(
            (
                TierRule(Tier.BRONZE, 0, 0),
                TierRule(Tier.SILVER, self.tier_silver_spend, self.tier_silver_discount_percent),
                TierRule(Tier.GOLD, self.tier_gold_spend, self.tier_gold_discount_percent),
                TierRule(
                    Tier.PLATINUM, self.tier_platinum_spend, self.tier_platinum_discount_percent
                ),
            )
        )

    @property
    def attempt_policy(self) -> AttemptPolicy:
        return AttemptPolicy(
            per_address_and_email=self.login_max_failures_per_ip_and_email,
            per_address=self.login_max_failures_per_ip,
            per_email=self.login_max_failures_per_email,
            register_taken_per_address=self.register_max_taken_per_ip,
            backoff_base_seconds=self.login_backoff_base_seconds,
            backoff_max_seconds=self.login_backoff_max_seconds,
            memory_seconds=self.login_failure_memory_seconds,
            proven_seconds=self.login_proven_ttl_seconds,
        )

    @model_validator(mode="after")
    def _consistent(self) -> MembershipSettings:
        _ = self.tiers  # TierTable refuses thresholds or discounts out of order
        _ = self.attempt_policy  # and AttemptPolicy a backoff it cannot keep
        return self

    def production_problems(self) -> list[str]:
        problems = []
        if self.signing_key_pem is None:
            problems.append("MEMBERSHIP_SIGNING_KEY_PEM is not set")
        password = self.bootstrap_admin_password.get_secret_value()
        if password == DEV_ADMIN_PASSWORD:
            problems.append("BOOTSTRAP_ADMIN_PASSWORD is the development default")
        elif len(password) < PASSWORD_MIN_LENGTH:
            problems.append(f"BOOTSTRAP_ADMIN_PASSWORD is shorter than {PASSWORD_MIN_LENGTH}")
        return problems
