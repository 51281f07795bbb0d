"""Refresh tokens: opaque, stored only as a hash, rotated on every use, in families.

Each login starts a family; each refresh marks the presented token used and issues the next
one of the same family. A used token presented again means it was copied: the whole family is
revoked, so the thief and the owner both have to log in again (OAuth 2.0 Security BCP,
refresh token rotation). No I/O here.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class RefreshOutcome(StrEnum):
    ROTATE = "ROTATE"  # valid: mark it used, issue the next of the family
    REUSED = "REUSED"  # used before: revoke the family
    REVOKED = "REVOKED"  # its family was revoked
    EXPIRED = "EXPIRED"
    UNKNOWN = "UNKNOWN"


@dataclass(frozen=True, slots=True)
class RefreshState:
    expires_at: datetime
    used: bool = False
    revoked: bool = False


def new_refresh_token() -> str:
    return secrets.token_urlsafe(32)


def hash_refresh_token(token: str) -> str:
    """SHA-256 is enough: the token is 256 random bits, not a password to be guessed."""
    return hashlib.sha256(token.encode()).hexdigest()


def refresh_outcome(state: RefreshState | None, now: datetime) -> RefreshOutcome:
    if state is None:
        return RefreshOutcome.UNKNOWN
    if state.revoked:
        return RefreshOutcome.REVOKED
    if state.used:
        return RefreshOutcome.REUSED  # even when expired: a copy is in someone's hands
    if now >= state.expires_at:
        return RefreshOutcome.EXPIRED
    return RefreshOutcome.ROTATE
