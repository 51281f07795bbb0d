"""Money and dates in the reader's conventions. No I/O here.

The words themselves (reasons, tier names) live with the templates, in
`service/templates/<locale>/_words.txt`, so every sentence a member reads is in one place per
language.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

from shared_events import money

# Minor-unit exponent per currency: the suite's, and JPY's, which has none.
MINOR_UNITS: dict[str, int] = {**money.MINOR_UNITS, "JPY": 0}
# Chinese readers expect a symbol; English text spells the ISO code (unambiguous: ¥ is also JPY).
ZH_SYMBOLS: dict[str, str] = {"CNY": "¥", "USD": "US$", "EUR": "€", "JPY": "JP¥"}

EN_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_money(amount: int, currency: str, locale: str) -> str:
    """Integer minor units as a reader expects them: 12600 CNY is `¥126.00` in zh-CN and
    `CNY 126.00` in English; thousands are grouped (`¥1,234.50`)."""
    exponent = MINOR_UNITS.get(currency, 2)
    sign = "-" if amount < 0 else ""
    units, minor = divmod(abs(amount), 10**exponent)
    number = f"{units:,}" + (f".{minor:0{exponent}d}" if exponent else "")
    if locale == "zh-CN" and currency in ZH_SYMBOLS:
        return f"{sign}{ZH_SYMBOLS[currency]}{number}"
    return f"{sign}{currency} {number}"


def format_date(value: date | datetime, locale: str) -> str:
    """A calendar date (a time is taken in UTC): `2026年12月22日` / `22 December 2026`."""
    day = value.astimezone(UTC) if isinstance(value, datetime) and value.tzinfo else value
    if locale == "zh-CN":
        return f"{day.year}年{day.month}月{day.day}日"
    return f"{day.day} {EN_MONTHS[day.month - 1]} {day.year}"
