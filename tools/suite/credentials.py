"""The accounts the launcher names: the bootstrap admin and the demo member.

The admin's development values and variable names are membership's own (its settings, which
production refuses with the development password); the demo member exists only in `make run`,
so its development values live here and nowhere else.
"""

from __future__ import annotations

import json
import os
import shlex
from dataclasses import dataclass
from typing import ClassVar, Self

from rich.markup import escape

from tools.suite.services import ISSUER, default, service_row, variable

_membership = service_row(ISSUER).settings
_notification = service_row("notification").settings


@dataclass(frozen=True)
class Credentials:
    """An account the launcher names, from two environment variables or their development
    defaults. A password from the user's environment is never printed, the development one is."""

    email: str
    password: str

    email_variable: ClassVar[str]
    password_variable: ClassVar[str]
    development_email: ClassVar[str]
    development_password: ClassVar[str]

    @classmethod
    def resolve(cls) -> Self:
        return cls(
            os.environ.get(cls.email_variable, cls.development_email),
            os.environ.get(cls.password_variable, cls.development_password),
        )

    @classmethod
    def development(cls) -> Self:
        return cls(cls.development_email, cls.development_password)

    @property
    def is_development(self) -> bool:
        return self.password == self.development_password

    def shown_password(self) -> str:
        return self.password if self.is_development else f"<{self.password_variable}>"

    def shown(self) -> str:
        """`email / password` for the console (markup escaped)."""
        password = self.password if self.is_development else f"${self.password_variable}"
        return f"{escape(self.email)} / {escape(password)}"


class AdminCredentials(Credentials):
    """The bootstrap admin that membership creates at its first start. It never resets an
    existing account's password: with `.data/membership.db` kept, the first password stays."""

    email_variable = variable(_membership, "bootstrap_admin_email")
    password_variable = variable(_membership, "bootstrap_admin_password")
    development_email = default(_membership, "bootstrap_admin_email")
    development_password = default(_membership, "bootstrap_admin_password")

    def environment(self) -> dict[str, str]:
        """The admin's account, and the admin as the operator who hears about low stock and
        lots close to expiry (the local mail catcher keeps those emails) unless
        `NOTIFICATION_OPERATOR_EMAILS` names others."""
        operators = variable(_notification, "operator_emails")
        return {
            self.email_variable: self.email,
            self.password_variable: self.password,
            operators: os.environ.get(operators, self.email),
        }

    def login_command(self, base_url: str) -> str:
        body = json.dumps(
            {"email": self.email, "password": self.shown_password()}, separators=(",", ":")
        )
        return (
            f"curl -s -X POST {base_url}/api/v1/auth/login"
            f" -H 'Content-Type: application/json' -d {shlex.quote(body)}"
        )


class MemberCredentials(Credentials):
    """The demo member that the seed registers (an existing account keeps its password)."""

    email_variable = "DEMO_MEMBER_EMAIL"
    password_variable = "DEMO_MEMBER_PASSWORD"  # noqa: S105 - a variable's name, no secret
    development_email = "demo@example.com"
    development_password = "demo-member-password"  # noqa: S105 - a marked development default
