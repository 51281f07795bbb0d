"""Lot rules without I/O: first expired first out, the expiry calendar in the shop's time zone,
the expiring-soon window, trace codes and what a disposal may take."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from inventory_service.domain.lots import (
    LotStatus,
    LotStock,
    allocate_fefo,
    days_left,
    is_expired,
    is_expiring_soon,
    new_trace_code,
    parse_trace_code,
    shop_today,
    units_to_dispose,
)
from inventory_service.domain.stock import StockRuleError

LOTS = [
    LotStock("UNDATED", 10, None),
    LotStock("LATE", 5, date(2026, 9, 1)),
    LotStock("EARLY", 3, date(2026, 3, 1)),
    LotStock("MID", 4, date(2026, 6, 1)),
]


def test_fefo_takes_the_earliest_lot_first_and_spills_over() -> None:
    assert allocate_fefo(2, LOTS) == [("EARLY", 2)]
    assert allocate_fefo(5, LOTS) == [("EARLY", 3), ("MID", 2)]
    assert allocate_fefo(13, LOTS) == [("EARLY", 3), ("MID", 4), ("LATE", 5), ("UNDATED", 1)]
    assert allocate_fefo(22, LOTS) == [("EARLY", 3), ("MID", 4), ("LATE", 5), ("UNDATED", 10)]


def test_fefo_refuses_what_the_lots_cannot_give_and_skips_empty_lots() -> None:
    assert allocate_fefo(23, LOTS) is None
    assert allocate_fefo(1, []) is None
    empty_first = [LotStock("EMPTY", 0, date(2026, 1, 1)), LotStock("FULL", 2, date(2026, 2, 1))]
    assert allocate_fefo(2, empty_first) == [("FULL", 2)]


def test_fefo_breaks_ties_by_code() -> None:
    same_day = [LotStock("B", 1, date(2026, 3, 1)), LotStock("A", 1, date(2026, 3, 1))]
    assert allocate_fefo(2, same_day) == [("A", 1), ("B", 1)]


def test_expiry_dates_are_days_in_the_shop_s_time_zone() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    # 16:30 UTC on the 1st is already the 2nd in Shanghai.
    evening = datetime(2026, 3, 1, 16, 30, tzinfo=UTC)
    assert shop_today(ZoneInfo("UTC"), evening) == date(2026, 3, 1)
    assert shop_today(shanghai, evening) == date(2026, 3, 2)
    # Sellable through its expiry date, expired the day after.
    assert not is_expired(date(2026, 3, 1), date(2026, 3, 1))
    assert is_expired(date(2026, 3, 1), shop_today(shanghai, evening))
    assert not is_expired(None, date(2099, 1, 1))


@pytest.mark.parametrize(
    ("expiry", "soon"),
    [
        (date(2026, 3, 1), True),  # today: 0 days left
        (date(2026, 3, 4), True),  # the edge of a 3-day window
        (date(2026, 3, 5), False),
        (date(2026, 2, 28), False),  # expired is not "soon"
        (None, False),
    ],
)
def test_expiring_soon_window(expiry: date | None, soon: bool) -> None:
    assert is_expiring_soon(expiry, date(2026, 3, 1), 3) is soon


def test_days_left() -> None:
    assert days_left(date(2026, 3, 4), date(2026, 3, 1)) == 3


def test_trace_codes_are_random_and_read_leniently() -> None:
    codes = {new_trace_code() for _ in range(1000)}
    assert len(codes) == 1000
    code = codes.pop()
    assert len(code) == 16 and parse_trace_code(code) == code
    grouped = "-".join(code[i : i + 4] for i in range(0, 16, 4)).lower()
    assert parse_trace_code(grouped) == code
    assert parse_trace_code(f" {code[:8]} {code[8:]} ") == code
    # Crockford's base32: O reads as 0, I and L as 1.
    assert parse_trace_code("OILO" + "2" * 12) == "0110" + "2" * 12


@pytest.mark.parametrize("text", ["", "SHORT", "U" * 16, "0" * 17, "7K3M9QX2D4F8HJ6!"])
def test_malformed_trace_codes_are_none(text: str) -> None:
    assert parse_trace_code(text) is None


def test_a_disposal_takes_the_free_units_of_a_lot_out_of_sale_and_no_more() -> None:
    for status in (LotStatus.EXPIRED, LotStatus.QUARANTINED):
        assert units_to_dispose(status, 10, 3, None) == 7  # what no order holds
        assert units_to_dispose(status, 10, 3, 7) == 7
        assert units_to_dispose(status, 10, 0, 1) == 1
    refusals = [
        (LotStatus.SELLABLE, 10, 0, 1, "lot-sellable"),
        (LotStatus.QUARANTINED, 10, 3, 8, "not-enough-units"),
        (LotStatus.QUARANTINED, 3, 3, None, "nothing-to-dispose"),
        (LotStatus.EXPIRED, 0, 0, None, "nothing-to-dispose"),
    ]
    for status, on_hand, reserved, asked, code in refusals:
        with pytest.raises(StockRuleError) as refused:
            units_to_dispose(status, on_hand, reserved, asked)
        assert (refused.value.code, refused.value.status) == (code, 409)
