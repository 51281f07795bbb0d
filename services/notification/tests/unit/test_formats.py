from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from notification_service.domain.formats import format_date, format_money


@pytest.mark.parametrize(
    ("amount", "currency", "zh", "en"),
    [
        (12_600, "CNY", "¥126.00", "CNY 126.00"),
        (5, "CNY", "¥0.05", "CNY 0.05"),
        (0, "CNY", "¥0.00", "CNY 0.00"),
        (123_456_789, "CNY", "¥1,234,567.89", "CNY 1,234,567.89"),
        (1_999, "USD", "US$19.99", "USD 19.99"),
        (1_000, "EUR", "€10.00", "EUR 10.00"),
        (500, "JPY", "JP¥500", "JPY 500"),  # no minor unit
        (1_050, "GBP", "GBP 10.50", "GBP 10.50"),  # unknown: code, two decimals
        (-2_500, "CNY", "-¥25.00", "-CNY 25.00"),
    ],
)
def test_money_from_minor_units(amount: int, currency: str, zh: str, en: str) -> None:
    assert format_money(amount, currency, "zh-CN") == zh
    assert format_money(amount, currency, "en") == en


def test_dates_per_locale_in_utc() -> None:
    late_evening_in_shanghai = datetime(2026, 12, 23, 1, 30, tzinfo=timezone(timedelta(hours=8)))
    assert format_date(late_evening_in_shanghai, "zh-CN") == "2026年12月22日"
    assert format_date(late_evening_in_shanghai, "en") == "22 December 2026"
    assert format_date(datetime(2027, 1, 5, tzinfo=UTC), "en") == "5 January 2027"
