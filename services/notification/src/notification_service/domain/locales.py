"""The languages messages are written in. No I/O here."""

from __future__ import annotations

LOCALES = ("zh-CN", "en")
DEFAULT_LOCALE = "zh-CN"


def resolve_locale(value: str | None, default: str = DEFAULT_LOCALE) -> str:
    """A supported locale for what a member chose: `en-GB` -> `en`, unknown -> the default."""
    if not value:
        return default
    if value in LOCALES:
        return value
    language = value.replace("_", "-").split("-", 1)[0].lower()
    if language == "zh":
        return "zh-CN"
    return language if language in LOCALES else default
