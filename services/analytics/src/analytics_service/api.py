"""Analytics routes (admin only): parse, authorise, call one use case; nothing else
(docs/architecture.md). Each answers JSON, or CSV with `?format=csv`."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter, Path, Query, Response
from pydantic import BaseModel

from analytics_service.deps import RuntimeDep
from analytics_service.schemas import (
    ConsumerLagReport,
    DashboardReport,
    FunnelReport,
    KpiReport,
    LowStockList,
    SkuReport,
    SlowMovingList,
    TopProducts,
)
from analytics_service.service import consumer_lag, dashboard, export, reports
from chassis.auth import Admin
from chassis.validation import SkuCode

router = APIRouter(prefix="/api/v1/admin/analytics", tags=["admin"])
# The operators' page (the gateway routes `/ops` here). The page and its files are public: the
# figures it shows come from `router`'s admin routes, with the token of its login form.
pages = APIRouter(prefix="/ops", include_in_schema=False)

From = Annotated[
    date | None,
    Query(alias="from", description="first reporting day (default: the last day)"),
]
To = Annotated[
    date | None,
    Query(alias="to", description="last reporting day, included (default: today)"),
]
# A word rather than an enum, so that an unknown granularity is the domain's
# `unknown-granularity` 422 (with its code), not a generic validation error.
Grain = Annotated[str, Query(description="day or hour", pattern=r"^[a-z]{1,10}$")]
Format = Annotated[Literal["json", "csv"], Query()]
Top = Annotated[int, Query(ge=1, le=100, description="how many products")]
CSV_RESPONSE: dict[int | str, dict[str, Any]] = {
    200: {"content": {"text/csv": {}}, "description": "JSON, or CSV with ?format=csv"}
}

ReportT = TypeVar("ReportT", bound=BaseModel)


def _answer(
    report: ReportT, fmt: str, render: Callable[[ReportT], str], name: str
) -> ReportT | Response:
    if fmt == "csv":
        return Response(
            render(report),
            media_type="text/csv; charset=utf-8",
            headers={"Content-Disposition": f'attachment; filename="{name}.csv"'},
        )
    return report


@router.get("/kpis", response_model=KpiReport, responses=CSV_RESPONSE)
async def get_kpis(
    runtime: RuntimeDep,
    _: Admin,
    first: From = None,
    last: To = None,
    granularity: Grain = "day",
    format: Format = "json",
) -> KpiReport | Response:
    """Every KPI of docs/kpis.md for the period, per day or hour, and per category."""
    period = reports.requested_period(runtime.settings, first, last, granularity)
    return _answer(await reports.kpi_report(runtime, period), format, export.kpis_csv, "kpis")


@router.get("/funnel", response_model=FunnelReport, responses=CSV_RESPONSE)
async def get_funnel(
    runtime: RuntimeDep,
    _: Admin,
    first: From = None,
    last: To = None,
    format: Format = "json",
) -> FunnelReport | Response:
    period = reports.requested_period(runtime.settings, first, last, "day")
    return _answer(
        await reports.funnel_report(runtime, period), format, export.funnel_csv, "funnel"
    )


@router.get("/skus/{sku}", response_model=SkuReport, responses=CSV_RESPONSE)
async def get_sku(
    runtime: RuntimeDep,
    _: Admin,
    sku: Annotated[SkuCode, Path()],
    first: From = None,
    last: To = None,
    format: Format = "json",
) -> SkuReport | Response:
    """One SKU: units, GMV, sell-through and turnover over the period, per day; its stock now."""
    period = reports.requested_period(runtime.settings, first, last, "day")
    report = await reports.sku_report(runtime, sku, period)
    return _answer(report, format, export.sku_csv, f"sku-{sku}")


@router.get("/low-stock", response_model=LowStockList, responses=CSV_RESPONSE)
async def get_low_stock(
    runtime: RuntimeDep, _: Admin, format: Format = "json"
) -> LowStockList | Response:
    report = await reports.low_stock_report(runtime)
    return _answer(report, format, export.low_stock_csv, "low-stock")


@router.get("/slow-moving", response_model=SlowMovingList, responses=CSV_RESPONSE)
async def get_slow_moving(
    runtime: RuntimeDep,
    _: Admin,
    days: Annotated[
        int | None, Query(ge=1, le=3650, description="no sale for this many days")
    ] = None,
    format: Format = "json",
) -> SlowMovingList | Response:
    report = await reports.slow_moving_report(runtime, days or runtime.settings.slow_moving_days)
    return _answer(report, format, export.slow_moving_csv, "slow-moving")


@router.get("/top-products", response_model=TopProducts, responses=CSV_RESPONSE)
async def get_top_products(
    runtime: RuntimeDep,
    _: Admin,
    first: From = None,
    last: To = None,
    limit: Top = 10,
    format: Format = "json",
) -> TopProducts | Response:
    """The products with the most GMV from units paid in the period."""
    period = reports.requested_period(runtime.settings, first, last, "day")
    report = await reports.top_products_report(runtime, period, limit)
    return _answer(report, format, export.top_products_csv, "top-products")


@router.get("/dashboard", response_model=DashboardReport)
async def get_dashboard(
    runtime: RuntimeDep,
    _: Admin,
    days: Annotated[
        int, Query(ge=1, le=366, description="the last N reporting days, today included")
    ] = 1,
    granularity: Grain = "hour",
    top: Top = 5,
) -> DashboardReport:
    """What the `/ops` page shows (KPIs, funnel, top products, low stock) in one answer. The
    period is counted back from today in the reporting zone, which the page need not know."""
    period = reports.last_days(runtime.settings, days, granularity)
    return await reports.dashboard_report(runtime, period, top)


@router.get("/consumer-lag", response_model=ConsumerLagReport)
async def get_consumer_lag(runtime: RuntimeDep, _: Admin) -> ConsumerLagReport:
    """Each consumer group's lag (end offset minus committed offset), summed per topic: the
    `/ops` page's lag panel. Read from the broker at most every 10 s."""
    return await consumer_lag.consumer_lag_report(runtime)


def _file(name: str) -> Response:
    found = dashboard.asset(name)
    return Response(found.body, media_type=found.media_type, headers=dashboard.SECURITY_HEADERS)


@pages.get("")
async def get_page() -> Response:
    return _file("index.html")


@pages.get("/{name}")
async def get_page_file(name: str) -> Response:
    return _file(name)
