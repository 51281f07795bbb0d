"""The channels a message goes out on, and what may be shown of an SMS address. No I/O here."""

from __future__ import annotations

from enum import StrEnum


class Channel(StrEnum):
    EMAIL = "EMAIL"
    SMS = "SMS"
    WEBHOOK = "WEBHOOK"


def mask_phone(phone: str) -> str:
    """`+8613800138000` -> `**********8000`."""
    if len(phone) <= 4:
        return "*" * len(phone)
    return "*" * (len(phone) - 4) + phone[-4:]
