"""Lot rules: which lots are sellable, first expired first out, the expiry calendar and trace
codes. No I/O here: the service layer reads the lots and applies what these functions decide."""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from inventory_service.domain.stock import StockRuleError
from shared_events.inventory import DEFAULT_LOT

__all__ = [
    "DEFAULT_LOT",
    "AllocationStatus",
    "LotStatus",
    "LotStock",
    "WithdrawalReason",
    "allocate_fefo",
    "days_left",
    "is_expired",
    "is_expiring_soon",
    "new_trace_code",
    "parse_trace_code",
    "shop_today",
    "units_to_dispose",
]


class LotStatus(StrEnum):
    SELLABLE = "SELLABLE"
    EXPIRED = "EXPIRED"  # past its expiry date: out of sale for good
    QUARANTINED = "QUARANTINED"  # recalled: out of sale, kept for inspection or disposal


class AllocationStatus(StrEnum):
    HELD = "HELD"  # reserved for an order not confirmed yet
    COMMITTED = "COMMITTED"  # the order is confirmed; the units left the shelf
    RELEASED = "RELEASED"  # back in the lot (rejected, cancelled, expired, returned)
    MOVED = "MOVED"  # replaced by another lot's units after this lot was withdrawn
    WITHDRAWN = "WITHDRAWN"  # this lot was withdrawn and nothing could replace it


class WithdrawalReason(StrEnum):
    RECALLED = "RECALLED"
    LOT_EXPIRED = "LOT_EXPIRED"


@dataclass(frozen=True, slots=True)
class LotStock:
    """What a sellable lot can still give: its free units and its expiry date (None for a lot
    that does not expire, such as the implicit lot of non-food stock)."""

    code: str
    free: int
    expiry_date: date | None


def _fefo_key(lot: LotStock) -> tuple[bool, date, str]:
    return (lot.expiry_date is None, lot.expiry_date or date.max, lot.code)


def allocate_fefo(quantity: int, lots: Sequence[LotStock]) -> list[tuple[str, int]] | None:
    """Take `quantity` units from the lots that expire first (lots without a date last; ties
    by code): [(lot, units)], or None when the lots do not hold enough."""
    taken: list[tuple[str, int]] = []
    wanted = quantity
    for lot in sorted(lots, key=_fefo_key):
        if wanted == 0:
            break
        units = min(lot.free, wanted)
        if units > 0:
            taken.append((lot.code, units))
            wanted -= units
    return taken if wanted == 0 else None


def units_to_dispose(status: str, on_hand: int, reserved: int, asked: int | None) -> int:
    """How many units a disposal takes out of a lot: `asked`, or (None) every unit no order
    holds. Only a lot out of sale is disposed of: a sellable lot's stock is corrected with an
    adjustment, which its SKU's stock follows."""
    if status == LotStatus.SELLABLE:
        raise StockRuleError(
            "lot-sellable", "only a lot out of sale (expired or recalled) can be disposed of"
        )
    free = on_hand - reserved
    quantity = free if asked is None else asked
    if quantity <= 0:
        raise StockRuleError("nothing-to-dispose", "the lot has no units to dispose of")
    if quantity > free:
        raise StockRuleError(
            "not-enough-units", f"the lot has {free} units that no order holds, not {quantity}"
        )
    return quantity


def shop_today(timezone: ZoneInfo, now: datetime) -> date:
    """The shop's calendar day at `now`: expiry dates are days in the shop's time zone."""
    return now.astimezone(timezone).date()


def is_expired(expiry_date: date | None, today: date) -> bool:
    """A lot is sellable through its expiry date and expired the day after."""
    return expiry_date is not None and expiry_date < today


def days_left(expiry_date: date, today: date) -> int:
    return (expiry_date - today).days


def is_expiring_soon(expiry_date: date | None, today: date, warning_days: int) -> bool:
    """Within the warning window of its expiry date, and not expired yet."""
    return expiry_date is not None and 0 <= days_left(expiry_date, today) <= warning_days


# Crockford's base32 (no I, L, O, U): easy to read out and type from a label.
_TRACE_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
TRACE_CODE_LENGTH = 16  # 80 random bits: a public code nobody can guess or enumerate


def new_trace_code() -> str:
    return "".join(secrets.choice(_TRACE_ALPHABET) for _ in range(TRACE_CODE_LENGTH))


def parse_trace_code(text: str) -> str | None:
    """The code in canonical form (upper case, hyphens and spaces dropped, O read as 0 and
    I/L as 1, as Crockford's base32 allows), or None when it cannot be one."""
    code = text.strip().upper().replace("-", "").replace(" ", "")
    code = code.translate(str.maketrans("OIL", "011"))
    if len(code) != TRACE_CODE_LENGTH or any(c not in _TRACE_ALPHABET for c in code):
        return None
    return code
