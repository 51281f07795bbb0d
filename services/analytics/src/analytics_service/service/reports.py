"""The KPI reads: load the facts a period needs (a handful of set-based queries), hand them to
the formulas of domain/kpis.py, shape the answer. Nothing here decides what a figure means."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics_service.config import AnalyticsSettings
from analytics_service.deps import AnalyticsRuntime
from analytics_service.domain import kpis
from analytics_service.domain.kpis import (
    UNCATEGORISED,
    CouponFact,
    Facts,
    LineFact,
    MemberFact,
    MoneyBack,
    MoneyBackKind,
    OrderFact,
    PointsKind,
    PointsMove,
    SkuDay,
    StockFact,
)
from analytics_service.domain.period import Period, Window, period_of
from analytics_service.schemas import (
    BucketFigures,
    CategoryFigures,
    CategoryFunnel,
    DashboardReport,
    Figures,
    FunnelReport,
    FunnelStep,
    KpiReport,
    LowStockItem,
    LowStockList,
    SkuReport,
    SlowMovingItem,
    SlowMovingList,
    StatusFlow,
    TopProduct,
    TopProducts,
)
from analytics_service.tables import (
    CART_DAYS,
    COUPON_USES,
    COUPONS,
    MEMBERS,
    MONEY_BACK,
    ORDER_LINES,
    ORDERS,
    POINTS_MOVES,
    PRODUCT_VIEW_DAYS,
    PRODUCTS,
    SKU_DAYS,
    SKUS,
    STOCK,
    STOCK_MOVES,
)
from chassis.db import as_utc
from chassis.errors import NotFound

ORDER_TIMES = ("placed_at", "confirmed_at", "rejected_at", "cancelled_at", "returned_at")


def requested_period(
    settings: AnalyticsSettings, first: date | None, last: date | None, granularity: str
) -> Period:
    """The period asked for; a missing end is today in the reporting zone, a missing start the
    end (one day)."""
    today = datetime.now(UTC).astimezone(settings.zone).date()
    last = last or today
    return period_of(
        first or last,
        last,
        granularity,
        settings.zone,
        max_days=settings.max_period_days,
        max_hour_days=settings.max_hour_period_days,
    )


def last_days(settings: AnalyticsSettings, days: int, granularity: str) -> Period:
    """The last `days` reporting days, today (in the reporting zone) included."""
    today = datetime.now(UTC).astimezone(settings.zone).date()
    return requested_period(settings, today - timedelta(days=days - 1), today, granularity)


def _within(column: Any, window: Window) -> Any:
    return sa.and_(column >= window.start, column < window.end)


def _at(value: datetime | None) -> datetime | None:
    return as_utc(value) if value is not None else None


# ---- loading facts ----------------------------------------------------------------------------


async def _orders(conn: AsyncConnection, window: Window) -> list[OrderFact]:
    o = ORDERS.c
    touched = sa.or_(*(_within(o[name], window) for name in ORDER_TIMES))
    rows = await conn.execute(
        sa.select(
            o.order_id,
            o.member_id,
            o.total_cny,
            *(o[name] for name in ORDER_TIMES),
            o.reject_reason,
            o.cancel_reason,
        ).where(touched)
    )
    return [
        OrderFact(
            order_id=r.order_id,
            member_id=r.member_id,
            total_cny=r.total_cny or 0,
            placed_at=_at(r.placed_at),
            confirmed_at=_at(r.confirmed_at),
            rejected_at=_at(r.rejected_at),
            reject_reason=r.reject_reason,
            cancelled_at=_at(r.cancelled_at),
            cancel_reason=r.cancel_reason,
            returned_at=_at(r.returned_at),
        )
        for r in rows
    ]


async def _backs(conn: AsyncConnection, window: Window) -> list[MoneyBack]:
    m, o = MONEY_BACK.c, ORDERS.c
    rows = await conn.execute(
        sa.select(m.order_id, m.kind, m.amount_cny, m.at, o.confirmed_at.is_not(None))
        .select_from(MONEY_BACK.outerjoin(ORDERS, o.order_id == m.order_id))
        .where(_within(m.at, window))
    )
    return [MoneyBack(r[0], MoneyBackKind(r[1]), r[2], as_utc(r[3]), bool(r[4])) for r in rows]


async def _lines(conn: AsyncConnection, window: Window) -> dict[str, list[LineFact]]:
    """The lines (with their category now) of the orders touched in the window and of the
    orders money went back for."""
    line, o, m, p = ORDER_LINES.c, ORDERS.c, MONEY_BACK.c, PRODUCTS.c
    touched = sa.select(o.order_id).where(
        sa.or_(*(_within(o[name], window) for name in ORDER_TIMES))
    )
    refunded = sa.select(m.order_id).where(_within(m.at, window))
    rows = await conn.execute(
        sa.select(
            line.order_id,
            line.sku,
            line.quantity,
            line.amount_cny,
            sa.func.coalesce(p.category, UNCATEGORISED),
        )
        .select_from(ORDER_LINES.outerjoin(PRODUCTS, p.product_id == line.product_id))
        .where(sa.or_(line.order_id.in_(touched), line.order_id.in_(refunded)))
        .order_by(line.order_id, line.sku)
    )
    return kpis.group_lines(LineFact(r[0], r[1], r[2], r[3], r[4]) for r in rows)


async def _members(conn: AsyncConnection, window: Window) -> list[MemberFact]:
    c = MEMBERS.c
    rows = await conn.execute(
        sa.select(c.member_id, c.registered_at).where(_within(c.registered_at, window))
    )
    return [MemberFact(r[0], _at(r[1])) for r in rows]


async def _tiers(conn: AsyncConnection) -> dict[str, int]:
    c = MEMBERS.c
    rows = await conn.execute(
        sa.select(c.tier, sa.func.count()).where(c.registered_at.is_not(None)).group_by(c.tier)
    )
    return kpis.tier_distribution((r[0], r[1]) for r in rows)


async def _coupons(conn: AsyncConnection, window: Window) -> list[CouponFact]:
    c, u = COUPONS.c, COUPON_USES.c
    held = (
        sa.exists()
        .where(u.code == c.code, u.redeemed_at.is_not(None), u.restored_at.is_(None))
        .correlate(COUPONS)
    )
    rows = await conn.execute(
        sa.select(c.code, c.issued_at, held).where(_within(c.issued_at, window))
    )
    return [CouponFact(r[0], _at(r[1]), bool(r[2])) for r in rows]


async def _points(conn: AsyncConnection, window: Window) -> list[PointsMove]:
    c = POINTS_MOVES.c
    rows = await conn.execute(sa.select(c.kind, c.points, c.at).where(_within(c.at, window)))
    return [PointsMove(PointsKind(r[0]), r[1], as_utc(r[2])) for r in rows]


def _stock_query() -> Any:
    """Each SKU's stock fact with its category; on hand is the last count plus the moves after
    it (docs/kpis.md, "Stock on hand"), summed in the database."""
    s, m, k, p = STOCK.c, STOCK_MOVES.c, SKUS.c, PRODUCTS.c
    moved = (
        sa.select(sa.func.coalesce(sa.func.sum(m.delta), 0))
        .where(m.sku == s.sku, sa.or_(s.base_at.is_(None), m.at > s.base_at))
        .correlate(STOCK)
        .scalar_subquery()
    )
    return sa.select(
        s.sku,
        (s.base_on_hand + moved).label("on_hand"),
        s.safety_stock,
        s.first_seen,
        s.last_sold_at,
        sa.func.coalesce(p.category, UNCATEGORISED).label("category"),
        k.product_id,
    ).select_from(
        STOCK.outerjoin(SKUS, k.sku == s.sku).outerjoin(PRODUCTS, p.product_id == k.product_id)
    )


def _stock_fact(row: Any) -> StockFact:
    return StockFact(
        sku=row.sku,
        on_hand=int(row.on_hand),
        safety_stock=row.safety_stock,
        first_seen=as_utc(row.first_seen),
        last_sold_at=_at(row.last_sold_at),
        category=row.category,
    )


async def _stocks(conn: AsyncConnection) -> list[StockFact]:
    return [_stock_fact(row) for row in await conn.execute(_stock_query())]


# ---- reports ----------------------------------------------------------------------------------


def _period_fields(period: Period, settings: AnalyticsSettings) -> dict[str, Any]:
    return {"from": period.first, "to": period.last, "time_zone": settings.shop_time_zone}


async def kpi_report(runtime: AnalyticsRuntime, period: Period) -> KpiReport:
    window = period.window
    async with runtime.database.engine.connect() as conn:
        orders = await _orders(conn, window)
        facts = Facts(
            orders=orders,
            backs=await _backs(conn, window),
            members=await _members(conn, window),
            coupons=await _coupons(conn, window),
            points=await _points(conn, window),
        )
        lines = await _lines(conn, window)
        tiers = await _tiers(conn)
    flow = kpis.status_flow(orders, window)
    buckets = period.buckets()
    windows = [bucket.window for bucket in buckets]
    return KpiReport(
        **_period_fields(period, runtime.settings),
        granularity=period.granularity.value,
        totals=Figures(**vars(kpis.figures(facts, window))),
        buckets=[
            BucketFigures(start=bucket.label, **vars(kpis.figures(own, bucket.window)))
            for bucket, own in zip(buckets, kpis.split(facts, windows), strict=True)
        ],
        categories=[
            # from_attributes: net_gmv is a property of the figures, not one of their fields
            CategoryFigures.model_validate(c, from_attributes=True)
            for c in kpis.by_category(orders, lines, facts.backs, window)
        ],
        status_flow=StatusFlow(**vars(flow)),
        tiers=tiers,
    )


def _on_days(day: Any, period: Period) -> Any:
    return sa.and_(day >= period.first, day <= period.last)


async def _views(conn: AsyncConnection, period: Period) -> dict[str, int]:
    """Views per category over the period's days (the product's category now)."""
    v, p = PRODUCT_VIEW_DAYS.c, PRODUCTS.c
    category = sa.func.coalesce(p.category, UNCATEGORISED)
    rows = await conn.execute(
        sa.select(category, sa.func.sum(v.views))
        .select_from(PRODUCT_VIEW_DAYS.outerjoin(PRODUCTS, p.product_id == v.product_id))
        .where(_on_days(v.day, period))
        .group_by(category)
    )
    return {r[0]: int(r[1]) for r in rows}


async def _cart_adds(conn: AsyncConnection, period: Period) -> dict[str, tuple[int, int]]:
    """(cart adds, units added) per category over the period's days (the SKU's product's
    category now)."""
    c, k, p = CART_DAYS.c, SKUS.c, PRODUCTS.c
    category = sa.func.coalesce(p.category, UNCATEGORISED)
    rows = await conn.execute(
        sa.select(category, sa.func.sum(c.cart_adds), sa.func.sum(c.units_added))
        .select_from(
            CART_DAYS.outerjoin(SKUS, k.sku == c.sku).outerjoin(
                PRODUCTS, p.product_id == k.product_id
            )
        )
        .where(_on_days(c.day, period))
        .group_by(category)
    )
    return {r[0]: (int(r[1]), int(r[2])) for r in rows}


def _steps(steps: list[kpis.FunnelStep]) -> list[FunnelStep]:
    return [FunnelStep.model_validate(vars(s)) for s in steps]


async def funnel_report(runtime: AnalyticsRuntime, period: Period) -> FunnelReport:
    window = period.window
    async with runtime.database.engine.connect() as conn:
        orders = await _orders(conn, window)
        lines = await _lines(conn, window)
        views = await _views(conn, period)
        adds = await _cart_adds(conn, period)
    steps = kpis.funnel(
        sum(views.values()),
        sum(n for n, _ in adds.values()),
        kpis.orders_placed(orders, window),
        kpis.orders_paid(orders, window),
    )
    return FunnelReport(
        **_period_fields(period, runtime.settings),
        steps=_steps(steps),
        missing=[s.step for s in steps if s.count is None],
        units_added=sum(units for _, units in adds.values()),
        categories=[
            CategoryFunnel(category=c.category, steps=_steps(c.steps), units_added=c.units_added)
            for c in kpis.funnel_by_category(views, adds, orders, lines, window)
        ],
    )


async def sku_report(runtime: AnalyticsRuntime, sku: str, period: Period) -> SkuReport:
    settings = runtime.settings
    d, v, c, line, o = SKU_DAYS.c, PRODUCT_VIEW_DAYS.c, CART_DAYS.c, ORDER_LINES.c, ORDERS.c
    window = period.window
    async with runtime.database.engine.connect() as conn:
        stock = (await conn.execute(_stock_query().where(STOCK.c.sku == sku))).first()
        if stock is None:
            raise NotFound(f"analytics knows no SKU {sku}")
        rows = await conn.execute(
            sa.select(d.day, d.units_sold, d.units_returned, d.gmv_cny).where(
                d.sku == sku, _on_days(d.day, period)
            )
        )
        sold = {r[0]: (r[1], r[2], r[3]) for r in rows}
        # A view is of a product: the SKU's figure is its product's views.
        rows = await conn.execute(
            sa.select(v.day, v.views).where(
                v.product_id == stock.product_id, _on_days(v.day, period)
            )
        )
        views = {r[0]: r[1] for r in rows}
        rows = await conn.execute(
            sa.select(c.day, c.cart_adds, c.units_added).where(
                c.sku == sku, _on_days(c.day, period)
            )
        )
        adds = {r[0]: (r[1], r[2]) for r in rows}
        rows = await conn.execute(
            sa.select(o.placed_at, o.confirmed_at)
            .select_from(ORDER_LINES.join(ORDERS, o.order_id == line.order_id))
            .where(
                line.sku == sku,
                sa.or_(_within(o.placed_at, window), _within(o.confirmed_at, window)),
            )
        )
        times = [(_at(r[0]), _at(r[1])) for r in rows]
    placed = kpis.per_day((t[0] for t in times), settings.zone)
    paid = kpis.per_day((t[1] for t in times), settings.zone)
    days = [
        SkuDay(
            day,
            *sold.get(day, (0, 0, 0)),
            views=views.get(day, 0),
            cart_adds=adds.get(day, (0, 0))[0],
            units_added=adds.get(day, (0, 0))[1],
            orders_placed=placed[day],
            orders_paid=paid[day],
        )
        for day in sorted({*sold, *views, *adds, *placed, *paid})
    ]
    fact = _stock_fact(stock)
    safety = settings.default_safety_stock if fact.safety_stock is None else fact.safety_stock
    figures = kpis.sku_figures(days, period.first, period.last, fact.on_hand)
    # The figures by name; from_attributes reads their funnel steps and days (dataclasses).
    return SkuReport.model_validate(
        {
            **_period_fields(period, settings),
            "sku": sku,
            "product_id": stock.product_id,
            "category": fact.category,
            "on_hand": fact.on_hand,
            "safety_stock": safety,
            "low": fact.on_hand <= safety,
            "last_sold_at": fact.last_sold_at,
            **vars(figures),
        },
        from_attributes=True,
    )


async def low_stock_report(runtime: AnalyticsRuntime) -> LowStockList:
    async with runtime.database.engine.connect() as conn:
        stocks = await _stocks(conn)
    low = kpis.low_stock(stocks, runtime.settings.default_safety_stock)
    return LowStockList(items=[LowStockItem(**vars(item)) for item in low])


async def slow_moving_report(
    runtime: AnalyticsRuntime, days: int, as_of: datetime | None = None
) -> SlowMovingList:
    as_of = as_of or datetime.now(UTC)
    async with runtime.database.engine.connect() as conn:
        stocks = await _stocks(conn)
    slow = kpis.slow_moving(stocks, as_of, days)
    return SlowMovingList(
        days=days, as_of=as_of, items=[SlowMovingItem(**vars(item)) for item in slow]
    )


async def top_products_report(runtime: AnalyticsRuntime, period: Period, limit: int) -> TopProducts:
    """The products with the most GMV from units paid in the period (per SKU per day, summed
    over the product's SKUs and the period's days), the same units and CNY as the SKU report."""
    d, k, p = SKU_DAYS.c, SKUS.c, PRODUCTS.c
    product = sa.func.coalesce(k.product_id, d.sku)  # a SKU the catalog never named: itself
    gmv = sa.func.sum(d.gmv_cny).label("gmv")
    query = (
        sa.select(
            product.label("product_id"),
            sa.func.max(p.name).label("name"),
            sa.func.max(sa.func.coalesce(p.category, UNCATEGORISED)).label("category"),
            sa.func.sum(d.units_sold).label("units_sold"),
            sa.func.sum(d.units_returned).label("units_returned"),
            gmv,
        )
        .select_from(
            SKU_DAYS.outerjoin(SKUS, k.sku == d.sku).outerjoin(
                PRODUCTS, p.product_id == k.product_id
            )
        )
        .where(d.day >= period.first, d.day <= period.last)
        .group_by(product)
        .having(sa.func.sum(d.units_sold) > 0)
        # Ties by id, so that two refreshes of the page list equal products in one order.
        .order_by(gmv.desc(), product)
        .limit(limit)
    )
    async with runtime.database.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    return TopProducts(
        **_period_fields(period, runtime.settings),
        items=[
            TopProduct(
                product_id=r.product_id,
                name=r.name,
                category=r.category,
                units_sold=int(r.units_sold),
                units_returned=int(r.units_returned),
                gmv=int(r.gmv),
            )
            for r in rows
        ],
    )


async def dashboard_report(runtime: AnalyticsRuntime, period: Period, top: int) -> DashboardReport:
    """What the operators' page shows, from the same reads as the separate routes."""
    return DashboardReport(
        kpis=await kpi_report(runtime, period),
        funnel=await funnel_report(runtime, period),
        top_products=await top_products_report(runtime, period, top),
        low_stock=await low_stock_report(runtime),
    )
