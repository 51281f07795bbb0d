"""Credentials: argon2id password hashes and the Ed25519 keys that sign access tokens."""

from membership_service.security.keys import KeyRing, SigningKey, thumbprint
from membership_service.security.passwords import (
    hash_password,
    needs_rehash,
    verify_password,
    verify_unknown,
)

__all__ = [
    "KeyRing",
    "SigningKey",
    "hash_password",
    "needs_rehash",
    "thumbprint",
    "verify_password",
    "verify_unknown",
]
