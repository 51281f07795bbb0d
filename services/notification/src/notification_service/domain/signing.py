"""Webhook signatures, Stripe style: `Webhook-Signature: t=<unix>,v1=<hex>` where the hex is
HMAC-SHA256 of `"<t>.<body>"` keyed with the subscriber's secret. No I/O here.

A receiver checks the timestamp against its clock (replay window) and compares the digest in
constant time; `verify()` is that check, for tests and for subscribers written in Python.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

SIGNATURE_HEADER = "Webhook-Signature"
SCHEME = "v1"
DEFAULT_TOLERANCE_SECONDS = 300
SECRET_PREFIX = "whsec_"  # noqa: S105 (a prefix, not a secret)


def new_secret() -> str:
    return SECRET_PREFIX + secrets.token_urlsafe(32)


def compute_signature(secret: str, timestamp: int, body: bytes) -> str:
    signed = f"{timestamp}.".encode() + body
    return hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


def signature_header(secret: str, timestamp: int, body: bytes) -> str:
    return f"t={timestamp},{SCHEME}={compute_signature(secret, timestamp, body)}"


def parse_header(value: str) -> tuple[int | None, list[str]]:
    """The timestamp and every v1 signature (a receiver may see several during rotation)."""
    timestamp: int | None = None
    signatures: list[str] = []
    for part in value.split(","):
        key, _, item = part.strip().partition("=")
        if key == "t" and item.isdigit():
            timestamp = int(item)
        elif key == SCHEME and item:
            signatures.append(item)
    return timestamp, signatures


def verify(
    secret: str,
    body: bytes,
    header: str,
    *,
    now: int,
    tolerance_seconds: int = DEFAULT_TOLERANCE_SECONDS,
) -> bool:
    """True when one v1 signature matches and the timestamp is within the tolerance."""
    timestamp, signatures = parse_header(header)
    if timestamp is None or abs(now - timestamp) > tolerance_seconds:
        return False
    expected = compute_signature(secret, timestamp, body)
    return any(hmac.compare_digest(expected, candidate) for candidate in signatures)
