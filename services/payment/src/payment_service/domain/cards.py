"""What may be kept of a card token. No I/O here."""

from __future__ import annotations


def mask_token(token: str) -> str:
    """What may be kept of a card token once it has been used: `tok_visa` -> `tok_…isa`."""
    if len(token) < 8:
        return "…"
    return f"{token[:4]}…{token[-3:]}"
