"""Accounts: email and password rules, locales and roles. No I/O here."""

from __future__ import annotations

import re
from enum import StrEnum

from chassis.rules import RuleError

PASSWORD_MIN_LENGTH = 10
PASSWORD_MAX_LENGTH = 128  # argon2 hashes anything, but a bound keeps the work per request bounded
EMAIL_MAX_LENGTH = 254
# Deliberately plain: one @, a dot in the domain, no spaces, and none of the characters that
# make a header an address list or a display name (`,` `;` `<` `>` `(` `)` `[` `]` `"` `:` `\`):
# `ceo,me@attacker.com` would be two recipients to a mailer. Deliverability is its job.
_ATOM = r"[^@\s,;<>()\[\]\"\\:]"
_EMAIL = re.compile(rf"^{_ATOM}{{1,64}}@{_ATOM}+\.[^@\s.,;<>()\[\]\"\\:]{{2,}}$")


class Locale(StrEnum):
    ZH_CN = "zh-CN"
    EN = "en"


class Role(StrEnum):
    CUSTOMER = "customer"
    ADMIN = "admin"


class AccountRuleError(RuleError):
    """Input that breaks an account rule; `code` is stable."""


def normalise_email(email: str) -> str:
    """Emails are unique case-insensitively: `Alice@Example.COM` is `alice@example.com`."""
    normalised = email.strip().lower()
    if len(normalised) > EMAIL_MAX_LENGTH or not _EMAIL.match(normalised):
        raise AccountRuleError("invalid-email", "this is not an email address")
    return normalised


def check_password(password: str, *, email: str | None = None) -> str:
    """The password policy (NIST SP 800-63B style: length, no composition rules)."""
    if len(password) < PASSWORD_MIN_LENGTH:
        raise AccountRuleError(
            "weak-password", f"a password needs at least {PASSWORD_MIN_LENGTH} characters"
        )
    if len(password) > PASSWORD_MAX_LENGTH:
        raise AccountRuleError(
            "long-password", f"a password has at most {PASSWORD_MAX_LENGTH} characters"
        )
    if not password.strip():
        raise AccountRuleError("weak-password", "a password cannot be only spaces")
    if email is not None and password.strip().lower() == email.lower():
        raise AccountRuleError("weak-password", "a password cannot be the email address")
    return password


def roles_of(role: Role) -> list[str]:
    """The `roles` claim and field: one role per member for now."""
    return [role.value]
