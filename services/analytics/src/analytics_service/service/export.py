"""The reports as CSV (`?format=csv`): one row per bucket, step, day or SKU, the columns the
JSON fields of that row. Money stays in fen and rates in fractions, as in the JSON, so a
spreadsheet and the API never disagree by a rounding. Text that a spreadsheet would run as a
formula (a product name such as `=HYPERLINK(...)`) goes out with a leading `'`."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from pydantic import BaseModel

from analytics_service.schemas import (
    Figures,
    FunnelReport,
    KpiReport,
    LowStockList,
    SkuReport,
    SlowMovingList,
    TopProducts,
)

# A text cell starting with one of these is read by spreadsheets as a formula (OWASP, "CSV
# injection"): a product name such as `=HYPERLINK(...)` would run on the operator's machine.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: Any) -> Any:
    """A value as written: text that would start a formula gets a leading `'`, so it shows as
    the text it is; numbers stay numbers (a negative amount is no formula)."""
    if value is None:
        return ""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def _table(columns: Sequence[str], rows: Iterable[dict[str, Any]]) -> str:
    out = io.StringIO()
    # CRLF (RFC 4180): the writer then quotes any cell holding a CR or LF. Python 3.11's
    # writer with "\n" left a lone CR unquoted, and a spreadsheet starts a new row there, so
    # the text after it would be a cell of its own, a formula again.
    writer = csv.DictWriter(
        out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\r\n"
    )
    writer.writeheader()
    for row in rows:
        writer.writerow({k: _cell(v) for k, v in row.items()})
    return out.getvalue()


def _rows(items: Iterable[BaseModel]) -> list[dict[str, Any]]:
    return [item.model_dump(mode="json") for item in items]


def kpis_csv(report: KpiReport) -> str:
    """One row per bucket, then the period's `total` (distinct counts do not add up)."""
    columns = ["start", *Figures.model_fields]
    rows = _rows(report.buckets)
    rows.append({"start": "total", **report.totals.model_dump(mode="json")})
    return _table(columns, rows)


def funnel_csv(report: FunnelReport) -> str:
    """The period's steps (an empty category), then each category's."""
    rows = [{"category": "", **row} for row in _rows(report.steps)]
    for category in report.categories:
        rows.extend({"category": category.category, **row} for row in _rows(category.steps))
    return _table(["category", "step", "count", "rate"], rows)


def sku_csv(report: SkuReport) -> str:
    columns = [
        "day",
        "units_sold",
        "units_returned",
        "gmv",
        "views",
        "cart_adds",
        "units_added",
        "orders_placed",
        "orders_paid",
    ]
    return _table(columns, _rows(report.days))


def low_stock_csv(report: LowStockList) -> str:
    return _table(["sku", "category", "on_hand", "safety_stock"], _rows(report.items))


def slow_moving_csv(report: SlowMovingList) -> str:
    columns = ["sku", "category", "on_hand", "last_sold_at", "days_without_sale"]
    return _table(columns, _rows(report.items))


def top_products_csv(report: TopProducts) -> str:
    columns = ["product_id", "name", "category", "units_sold", "units_returned", "gmv"]
    return _table(columns, _rows(report.items))
