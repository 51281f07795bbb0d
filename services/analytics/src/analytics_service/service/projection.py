"""The projection's writes: one use case per event, each a few set-based Core statements in the
poll's transaction (`delivery.session`'s connection); no ORM object per record.

Each event sets only its own columns (an upsert on the fact's key), so facts from different
topics may arrive in any order. Facts that replace an earlier one (a stock count, a tier, a
product's category) keep the newest by event time or version. The inbox has already made sure
this event was not applied before; the keys make a replay harmless anyway.

The statements are built once per database dialect (PostgreSQL and SQLite spell ON CONFLICT
alike, but SQLAlchemy has one INSERT construct for each) with bind parameters, and executed
with the event's values: this runs for every order event of the suite, so no statement is
rebuilt per event.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cache
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics_service.deps import AnalyticsRuntime
from analytics_service.domain.kpis import MoneyBackKind, PointsKind
from analytics_service.domain.money import allocate, paid_to_reporting, to_reporting
from analytics_service.domain.period import local_day
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
from chassis.consumer import Delivery
from chassis.db import as_utc, rows_before_commit
from shared_events.catalog import ProductDetails, ProductViewedV1, SkuSnapshot
from shared_events.inventory import (
    StockAdjustedV1,
    StockCommittedV2,
    StockLowV1,
    StockReleasedV1,
)
from shared_events.membership import (
    CouponIssuedV1,
    CouponRedeemedV1,
    CouponRestoredV1,
    MemberRegisteredV1,
    TierChangedV1,
)
from shared_events.money import REPORTING_CURRENCY, Money
from shared_events.order import CartItemChangedV1, OrderPlacedV1

AnalyticsDelivery = Delivery[AnalyticsRuntime]
AT = sa.DateTime(timezone=True)

# The columns each order event sets on the order's row (its upsert updates only those).
PLACED_COLUMNS = (
    "member_id",
    "currency",
    "total",
    "total_cny",
    "coupon_code",
    "points",
    "placed_at",
)
STEP_COLUMNS = {
    "confirmed": ("confirmed_at",),
    "rejected": ("rejected_at", "reject_reason"),
    "cancelled": ("cancelled_at", "cancel_reason", "cancelled_after_payment"),
    "returned": ("returned_at",),
}


def _newer(column: sa.Column[Any], excluded: Any) -> Any:
    """The stored fact is replaced only by a newer one (late events do not win)."""
    return sa.or_(column.is_(None), column < excluded)


@dataclass(frozen=True)
class Statements:
    """Every write of the projection, for one dialect; executed with the event's values."""

    product: Any
    sku: Any
    new_stock: Any
    placed: Any
    steps: dict[str, Any]
    lines: Any
    units_sold: Any
    units_back: Any
    last_sold: Any
    money_back: Any
    count: Any
    safety_stock: Any
    moves: Any
    restock: Any
    member: Any
    tier: Any
    coupon: Any
    coupon_redeemed: Any
    coupon_restored: Any
    points: Any
    view: Any
    cart_add: Any
    paid: Any
    order_total: Any
    line_share: Any
    day_gmv: Any


@cache
def statements(dialect: str) -> Statements:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert

    def upsert(
        table: sa.Table, keys: Sequence[str], update: Sequence[str], where: Any = None
    ) -> Any:
        statement = insert(table)
        if not update:
            return statement.on_conflict_do_nothing(index_elements=list(keys))
        return statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: statement.excluded[name] for name in update},
            where=where(statement.excluded) if where else None,
        )

    lines, days = ORDER_LINES.c, SKU_DAYS.c
    of_order = lines.order_id == sa.bindparam("order_id")
    day_columns = ["sku", "day", "units_sold", "units_returned", "gmv_cny"]

    def add_units(sold: bool) -> Any:
        """The order's lines added to their SKUs' day: INSERT ... SELECT ... ON CONFLICT."""
        units, back = (lines.quantity, sa.literal(0)) if sold else (sa.literal(0), lines.quantity)
        gmv = lines.amount_cny if sold else sa.literal(0)
        source = sa.select(lines.sku, sa.bindparam("day", type_=sa.Date), units, back, gmv).where(
            of_order
        )
        statement = insert(SKU_DAYS).from_select(day_columns, source)
        return statement.on_conflict_do_update(
            index_elements=["sku", "day"],
            set_={
                "units_sold": days.units_sold + statement.excluded.units_sold,
                "units_returned": days.units_returned + statement.excluded.units_returned,
                "gmv_cny": days.gmv_cny + statement.excluded.gmv_cny,
            },
        )

    def add_to(table: sa.Table, keys: Sequence[str], counters: Sequence[str]) -> Any:
        """A per-day counter row: inserted with the event's counts, or those counts added."""
        statement = insert(table)
        return statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: table.c[name] + statement.excluded[name] for name in counters},
        )

    at = sa.bindparam("at", type_=AT)
    last_sold = insert(STOCK).from_select(
        ["sku", "base_on_hand", "first_seen", "last_sold_at"],
        sa.select(lines.sku, sa.literal(0), at, at).where(of_order),
    )
    moves = STOCK_MOVES.c
    # Units back on the shelf: only those of a committed order (a release of units merely
    # reserved moved nothing), so the RESTOCK moves are the order's COMMIT moves turned around.
    restock = insert(STOCK_MOVES).from_select(
        ["order_id", "sku", "kind", "delta", "at"],
        sa.select(
            moves.order_id,
            moves.sku,
            sa.literal("RESTOCK"),
            -moves.delta,
            sa.bindparam("at", type_=AT),
        ).where(moves.order_id == sa.bindparam("order_id"), moves.kind == "COMMIT"),
    )
    return Statements(
        product=upsert(
            PRODUCTS,
            ["product_id"],
            ["name", "category", "version"],
            lambda new: PRODUCTS.c.version < new.version,
        ),
        sku=upsert(SKUS, ["sku"], ["product_id"]),
        new_stock=upsert(STOCK, ["sku"], ()),
        # Returns the steps applied before it: their line facts wait for these lines.
        placed=upsert(ORDERS, ["order_id"], PLACED_COLUMNS).returning(
            ORDERS.c.paid_cny,
            ORDERS.c.confirmed_at,
            ORDERS.c.returned_at,
            ORDERS.c.cancelled_at,
            ORDERS.c.cancelled_after_payment,
        ),
        steps={step: upsert(ORDERS, ["order_id"], cols) for step, cols in STEP_COLUMNS.items()},
        # Returns the lines it inserted: none when this order's lines are already known.
        lines=upsert(ORDER_LINES, ["order_id", "sku"], ()).returning(ORDER_LINES.c.sku),
        units_sold=add_units(sold=True),
        units_back=add_units(sold=False),
        last_sold=last_sold.on_conflict_do_update(
            index_elements=["sku"],
            set_={"last_sold_at": last_sold.excluded.last_sold_at},
            where=_newer(STOCK.c.last_sold_at, last_sold.excluded.last_sold_at),
        ),
        money_back=upsert(MONEY_BACK, ["order_id", "kind", "reference"], ()),
        count=upsert(
            STOCK,
            ["sku"],
            ["base_on_hand", "base_at"],
            lambda new: _newer(STOCK.c.base_at, new.base_at),
        ),
        safety_stock=upsert(
            STOCK,
            ["sku"],
            ["safety_stock", "safety_at"],
            lambda new: _newer(STOCK.c.safety_at, new.safety_at),
        ),
        moves=upsert(STOCK_MOVES, ["order_id", "sku", "kind"], ()),
        restock=restock.on_conflict_do_nothing(index_elements=["order_id", "sku", "kind"]),
        member=upsert(MEMBERS, ["member_id"], ["registered_at"]),
        tier=upsert(
            MEMBERS,
            ["member_id"],
            ["tier", "tier_at"],
            lambda new: _newer(MEMBERS.c.tier_at, new.tier_at),
        ),
        coupon=upsert(COUPONS, ["code"], ["member_id", "kind", "issued_at"]),
        coupon_redeemed=upsert(COUPON_USES, ["code", "order_id"], ["redeemed_at"]),
        coupon_restored=upsert(COUPON_USES, ["code", "order_id"], ["restored_at"]),
        points=upsert(POINTS_MOVES, ["event_id"], ()),
        view=add_to(PRODUCT_VIEW_DAYS, ["product_id", "day"], ["views"]),
        cart_add=add_to(CART_DAYS, ["sku", "day"], ["cart_adds", "units_added"]),
        # Returns the order's row only when the amount is new: the second of an order's two
        # payment events (authorised, then captured: the same amount) ends there.
        paid=upsert(
            ORDERS,
            ["order_id"],
            ["paid_cny"],
            where=lambda new: ORDERS.c.paid_cny.is_distinct_from(new.paid_cny),
        ).returning(ORDERS.c.placed_at, ORDERS.c.confirmed_at, ORDERS.c.total_cny),
        order_total=sa.update(ORDERS)
        .where(ORDERS.c.order_id == sa.bindparam("for_order"))
        .values(total_cny=sa.bindparam("new_total")),
        # Bind names differ from the columns': an UPDATE's SET binds the column names itself.
        line_share=sa.update(ORDER_LINES)
        .where(lines.order_id == sa.bindparam("for_order"), lines.sku == sa.bindparam("line_sku"))
        .values(amount_cny=sa.bindparam("new_share")),
        day_gmv=sa.update(SKU_DAYS)
        .where(days.sku == sa.bindparam("line_sku"), days.day == sa.bindparam("paid_day"))
        .values(gmv_cny=days.gmv_cny + sa.bindparam("delta")),
    )


def event_time(delivery: AnalyticsDelivery) -> datetime:
    """When the producing service wrote the event: the time a fact happened (docs/kpis.md)."""
    at: datetime = delivery.envelope.time.astimezone(UTC)
    return at


async def _run(delivery: AnalyticsDelivery, pick: str, params: Any) -> None:
    """Execute one of the dialect's statements on the poll's connection (a list: executemany)."""
    conn: AsyncConnection = await delivery.session.connection()
    await conn.execute(getattr(statements(conn.dialect.name), pick), params)


def _cny(money: Money, delivery: AnalyticsDelivery) -> int:
    return to_reporting(money.amount, money.currency, delivery.runtime.settings.fx_rates)


def _new_stock(sku: str, at: datetime) -> dict[str, Any]:
    return {"sku": sku, "base_on_hand": 0, "first_seen": at}


# ---- catalog -------------------------------------------------------------------------------


async def record_product(delivery: AnalyticsDelivery, event: ProductDetails, version: int) -> None:
    row = {
        "product_id": event.product_id,
        "name": event.name[:200],
        "category": event.category[:100],
        "version": version,
    }
    await _run(delivery, "product", row)
    await record_skus(delivery, event.product_id, event.skus)


async def record_skus(
    delivery: AnalyticsDelivery, product_id: str, skus: Sequence[SkuSnapshot]
) -> None:
    """Which product a SKU belongs to (its category), and when analytics first saw it (a SKU
    never sold is slow-moving counted from then)."""
    codes = sorted({s.sku for s in skus})
    if not codes:
        return
    at = event_time(delivery)
    await _run(delivery, "sku", [{"sku": code, "product_id": product_id} for code in codes])
    await _run(delivery, "new_stock", [_new_stock(code, at) for code in codes])


async def record_view(delivery: AnalyticsDelivery, event: ProductViewedV1) -> None:
    """One storefront view of a product on the reporting day it happened: anonymous or not,
    every view counts, a repeated one again (the inbox only drops a redelivered event)."""
    day = local_day(as_utc(event.viewed_at), delivery.runtime.settings.zone)
    conn: AsyncConnection = await delivery.session.connection()
    # Counted in memory over the poll, written with its commit: one upsert per product and day.
    views = rows_before_commit(delivery.session, statements(conn.dialect.name).view)
    row = views.setdefault(
        (event.product_id, day), {"product_id": event.product_id, "day": day, "views": 0}
    )
    row["views"] += 1


# ---- orders --------------------------------------------------------------------------------


async def record_placed(delivery: AnalyticsDelivery, event: OrderPlacedV1) -> None:
    """The order's row and its lines; the CNY total is split over the lines (docs/kpis.md).
    The CNY total is the payment's when its event came first, else `ANALYTICS_FX_RATES`'."""
    total_cny = _cny(event.total, delivery)
    merged: dict[str, list[Any]] = {}  # sku -> [product_id, quantity, line total]
    for item in event.items:  # one row per SKU, should an order list a SKU twice
        line = merged.setdefault(item.sku, [item.product_id, 0, 0])
        line[1] += item.quantity
        line[2] += item.line_total.amount
    conn: AsyncConnection = await delivery.session.connection()
    run = statements(conn.dialect.name)
    # The upsert holds the order's row until commit and returns it as it is now: a payment or
    # a step applied concurrently either committed before (returned here) or waits for this
    # transaction and then sees these lines.
    order = (
        await conn.execute(
            run.placed,
            {
                "order_id": event.order_id,
                "member_id": event.member_id,
                "currency": event.currency,
                "total": event.total.amount,
                "total_cny": total_cny,
                "coupon_code": event.coupon_code,
                "points": event.points,
                "placed_at": event.placed_at.astimezone(UTC),
            },
        )
    ).one()
    if order.paid_cny is not None and order.paid_cny != total_cny:
        total_cny = order.paid_cny
        await conn.execute(run.order_total, {"for_order": event.order_id, "new_total": total_cny})
    skus = sorted(merged)  # the order record_paid splits in, so both give the same fen
    shares = allocate(total_cny, [merged[sku][2] for sku in skus])
    if skus:
        rows = [
            {
                "order_id": event.order_id,
                "sku": sku,
                "product_id": merged[sku][0],
                "quantity": merged[sku][1],
                "amount": merged[sku][2],
                "amount_cny": share,
            }
            for sku, share in zip(skus, shares, strict=True)
        ]
        if (await conn.execute(run.lines, rows)).all():  # new lines, not a repeated `placed`
            await _count_earlier_steps(delivery, event.order_id, order)


async def _count_earlier_steps(
    delivery: AnalyticsDelivery, order_id: str, order: sa.Row[Any]
) -> None:
    """The line facts of the steps applied before `placed` (a dead-lettered `placed` replayed
    late, a rebuild beside the live service): they found no lines then, so they are counted
    now, each on its own step's day, as that step would have. Only here: a step applied after
    `placed` finds the lines itself, so each is counted once."""
    zone = delivery.runtime.settings.zone
    confirmed_at = as_utc(order.confirmed_at)
    if confirmed_at is not None:
        await _run(
            delivery, "units_sold", {"order_id": order_id, "day": local_day(confirmed_at, zone)}
        )
        await _run(delivery, "last_sold", {"order_id": order_id, "at": confirmed_at})
    back = [order.returned_at, order.cancelled_at if order.cancelled_after_payment else None]
    for at in (as_utc(at) for at in back if at is not None):
        await _run(delivery, "units_back", {"order_id": order_id, "day": local_day(at, zone)})


async def record_order_step(
    delivery: AnalyticsDelivery, step: str, order_id: str, member_id: str, **columns: Any
) -> None:
    """A later step of an order (confirmed, rejected, cancelled, returned): its own columns."""
    values = {"order_id": order_id, "member_id": member_id, **columns}
    conn: AsyncConnection = await delivery.session.connection()
    await conn.execute(statements(conn.dialect.name).steps[step], values)


async def record_confirmed(delivery: AnalyticsDelivery, order_id: str, member_id: str) -> None:
    """The order is paid: its units count as sold on this day, their SKUs' last sale moves.
    Lines not there yet (`placed` comes later) are counted by record_placed."""
    at = event_time(delivery)
    await record_order_step(delivery, "confirmed", order_id, member_id, confirmed_at=at)
    day = local_day(at, delivery.runtime.settings.zone)
    await _run(delivery, "units_sold", {"order_id": order_id, "day": day})
    await _run(delivery, "last_sold", {"order_id": order_id, "at": at})


async def record_units_back(delivery: AnalyticsDelivery, order_id: str) -> None:
    """A paid order's units came back (returned, or cancelled after payment). Lines not there
    yet (`placed` comes later) are counted by record_placed."""
    day = local_day(event_time(delivery), delivery.runtime.settings.zone)
    await _run(delivery, "units_back", {"order_id": order_id, "day": day})


async def record_cart_change(delivery: AnalyticsDelivery, event: CartItemChangedV1) -> None:
    """A cart add is a change that raised the line's quantity (a new line or more of one): one
    add per event, and the units it added. A decrease or a removal is no add and takes none
    back: the funnel counts the adds that happened (docs/kpis.md)."""
    added = event.quantity_after - event.quantity_before
    if added <= 0:
        return
    day = local_day(as_utc(event.changed_at), delivery.runtime.settings.zone)
    row = {"sku": event.sku, "day": day, "cart_adds": 1, "units_added": added}
    await _run(delivery, "cart_add", row)


# ---- payments ------------------------------------------------------------------------------


async def record_money_back(
    delivery: AnalyticsDelivery,
    order_id: str,
    kind: MoneyBackKind,
    reference: str,
    amount: Money,
    amount_cny: Money | None,
) -> None:
    """A refund or void; in CNY as the payment converted it (`amount_cny`), when it says."""
    paid_cny = (
        amount_cny.amount if amount_cny and amount_cny.currency == REPORTING_CURRENCY else None
    )
    row = {
        "order_id": order_id,
        "kind": kind.value,
        "reference": reference,
        "amount": amount.amount,
        "currency": amount.currency,
        "amount_cny": paid_to_reporting(
            amount.amount,
            amount.currency,
            delivery.runtime.settings.fx_rates,
            amount_cny=paid_cny,
        ),
        "at": event_time(delivery),
    }
    await _run(delivery, "money_back", row)


async def record_paid(delivery: AnalyticsDelivery, order_id: str, amount_cny: Money | None) -> None:
    """The order's total in CNY as its payment converted it (authorised or captured: the same
    amount at the same rate). It replaces the `ANALYTICS_FX_RATES` conversion of the order's
    total and lines, and of its SKUs' day if the order was already confirmed; if the order was
    not placed yet, record_placed splits it when it is. Events without it change nothing."""
    if amount_cny is None or amount_cny.currency != REPORTING_CURRENCY:
        return
    paid_cny = amount_cny.amount
    conn: AsyncConnection = await delivery.session.connection()
    run = statements(conn.dialect.name)
    # The upsert first: it holds the order's row, so placed and confirmed wait for this one.
    # No row back: the amount was recorded already (and split, if the order was placed).
    order = (await conn.execute(run.paid, {"order_id": order_id, "paid_cny": paid_cny})).first()
    if order is None or order.placed_at is None:
        return
    line = ORDER_LINES.c
    if order.total_cny != paid_cny:
        await conn.execute(run.order_total, {"for_order": order_id, "new_total": paid_cny})
    stored = sorted(
        (
            await conn.execute(
                sa.select(line.sku, line.amount, line.amount_cny).where(line.order_id == order_id)
            )
        ).all()
    )
    # Lines stored before `amount` was kept are weighted by their old CNY share instead.
    weights = [r.amount if r.amount is not None else r.amount_cny for r in stored]
    shares = allocate(paid_cny, weights)
    changed = [
        {
            "for_order": order_id,
            "line_sku": r.sku,
            "new_share": share,
            "delta": share - r.amount_cny,
        }
        for r, share in zip(stored, shares, strict=True)
        if share != r.amount_cny
    ]
    if not changed:
        return
    await conn.execute(run.line_share, changed)
    if order.confirmed_at is not None:  # its units were sold at the old amounts on that day
        day = local_day(as_utc(order.confirmed_at), delivery.runtime.settings.zone)
        await conn.execute(run.day_gmv, [{**row, "paid_day": day} for row in changed])


# ---- inventory -----------------------------------------------------------------------------


async def record_count(delivery: AnalyticsDelivery, event: StockAdjustedV1) -> None:
    """An absolute on-hand figure: it replaces the stored one unless that one is newer."""
    at = event_time(delivery)
    row = {**_new_stock(event.sku, at), "base_on_hand": event.on_hand, "base_at": at}
    await _run(delivery, "count", row)


async def record_safety_stock(delivery: AnalyticsDelivery, event: StockLowV1) -> None:
    at = event_time(delivery)
    row = {**_new_stock(event.sku, at), "safety_stock": event.safety_stock, "safety_at": at}
    await _run(delivery, "safety_stock", row)


async def record_committed(delivery: AnalyticsDelivery, event: StockCommittedV2) -> None:
    """Units left the shelf for good: a COMMIT move per SKU (the lots they came from do not
    change a figure). Keyed by order and SKU, so a commit applied twice moves them once."""
    at = event_time(delivery)
    moves: dict[str, int] = {}
    for line in event.lines:
        moves[line.sku] = moves.get(line.sku, 0) - line.quantity
    if not moves:
        return
    await _run(delivery, "new_stock", [_new_stock(sku, at) for sku in sorted(moves)])
    rows = [
        {"order_id": event.order_id, "sku": sku, "kind": "COMMIT", "delta": delta, "at": at}
        for sku, delta in sorted(moves.items())
    ]
    await _run(delivery, "moves", rows)


async def record_released(delivery: AnalyticsDelivery, event: StockReleasedV1) -> None:
    """Units back on the shelf: the order's committed units, if it had any."""
    await _run(delivery, "restock", {"order_id": event.order_id, "at": event_time(delivery)})


# ---- membership ----------------------------------------------------------------------------


async def record_member(delivery: AnalyticsDelivery, event: MemberRegisteredV1) -> None:
    row = {"member_id": event.member_id, "registered_at": event.registered_at.astimezone(UTC)}
    await _run(delivery, "member", row)


async def record_tier(delivery: AnalyticsDelivery, event: TierChangedV1) -> None:
    row = {"member_id": event.member_id, "tier": event.new_tier, "tier_at": event_time(delivery)}
    await _run(delivery, "tier", row)


async def record_coupon(delivery: AnalyticsDelivery, event: CouponIssuedV1) -> None:
    row = {
        "code": event.coupon_code,
        "member_id": event.member_id,
        "kind": event.kind[:30],
        "issued_at": event_time(delivery),
    }
    await _run(delivery, "coupon", row)


async def record_coupon_use(
    delivery: AnalyticsDelivery, event: CouponRedeemedV1 | CouponRestoredV1
) -> None:
    redeemed = isinstance(event, CouponRedeemedV1)
    column = "redeemed_at" if redeemed else "restored_at"
    row = {"code": event.coupon_code, "order_id": event.order_id, column: event_time(delivery)}
    await _run(delivery, "coupon_redeemed" if redeemed else "coupon_restored", row)


async def record_points(
    delivery: AnalyticsDelivery,
    kind: PointsKind,
    member_id: str,
    points: int,
    order_id: str | None = None,
) -> None:
    row = {
        "event_id": delivery.envelope.id,
        "kind": kind.value,
        "member_id": member_id,
        "order_id": order_id,
        "points": points,
        "at": event_time(delivery),
    }
    await _run(delivery, "points", row)
