"""The projection's writes: one use case per event, each a few set-based Core statements in the
poll's transaction (`delivery.session`); no ORM object per record.

Each event sets only its own columns (an upsert on the fact's key), so facts from different
topics may arrive in any order. Facts that replace an earlier one (a stock count, a tier, a
product's category) keep the newest by event time or version. The inbox has already made sure
this event was not applied before; the keys make a replay harmless anyway.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from analytics_service.deps import AnalyticsRuntime
from analytics_service.domain.kpis import MoneyBackKind, PointsKind
from analytics_service.domain.money import allocate, to_reporting
from analytics_service.domain.period import local_day
from analytics_service.tables import (
    COUPON_USES,
    COUPONS,
    MEMBERS,
    MONEY_BACK,
    ORDER_LINES,
    ORDERS,
    POINTS_MOVES,
    PRODUCTS,
    SKU_DAYS,
    SKUS,
    STOCK,
    STOCK_MOVES,
)
from chassis.consumer import Delivery
from shared_events.catalog import ProductDetails, SkuSnapshot
from shared_events.inventory import (
    StockAdjustedV1,
    StockCommittedV1,
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
from shared_events.money import Money
from shared_events.order import OrderPlacedV1

AnalyticsDelivery = Delivery[AnalyticsRuntime]


def event_time(delivery: AnalyticsDelivery) -> datetime:
    """When the producing service wrote the event: the time a fact happened (docs/kpis.md)."""
    at: datetime = delivery.envelope.time.astimezone(UTC)
    return at


async def _connection(delivery: AnalyticsDelivery) -> AsyncConnection:
    return await delivery.session.connection()


def _insert(conn: AsyncConnection, table: sa.Table) -> Any:
    """The dialect's INSERT, which has ON CONFLICT on both PostgreSQL and SQLite."""
    return (postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert)(table)


async def _upsert(
    conn: AsyncConnection,
    table: sa.Table,
    values: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    update: Sequence[str] = (),
    *,
    where: Any = None,
) -> None:
    """Insert, or on the key set only `update` (from the new row), when `where` holds."""
    statement = _insert(conn, table).values(values)
    if update:
        statement = statement.on_conflict_do_update(
            index_elements=list(keys),
            set_={name: statement.excluded[name] for name in update},
            where=where,
        )
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    await conn.execute(statement)


def _newer(column: sa.Column[Any], excluded: Any) -> Any:
    """The stored fact is replaced only by a newer one (late events do not win)."""
    return sa.or_(column.is_(None), column < excluded)


def _cny(money: Money, delivery: AnalyticsDelivery) -> int:
    return to_reporting(money.amount, money.currency, delivery.runtime.settings.fx_rates)


# ---- catalog -------------------------------------------------------------------------------


async def record_product(delivery: AnalyticsDelivery, event: ProductDetails, version: int) -> None:
    conn = await _connection(delivery)
    row = {
        "product_id": event.product_id,
        "name": event.name[:200],
        "category": event.category[:100],
        "version": version,
    }
    statement = _insert(conn, PRODUCTS).values(row)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["product_id"],
            set_={k: statement.excluded[k] for k in ("name", "category", "version")},
            where=PRODUCTS.c.version < statement.excluded.version,
        )
    )
    await record_skus(delivery, event.product_id, event.skus)


async def record_skus(
    delivery: AnalyticsDelivery, product_id: str, skus: Sequence[SkuSnapshot]
) -> None:
    """Which product a SKU belongs to (its category), and when analytics first saw it (a SKU
    never sold is slow-moving counted from then)."""
    if not skus:
        return
    conn = await _connection(delivery)
    at = event_time(delivery)
    codes = sorted({s.sku for s in skus})
    await _upsert(
        conn,
        SKUS,
        [{"sku": code, "product_id": product_id} for code in codes],
        ["sku"],
        ["product_id"],
    )
    await _upsert(conn, STOCK, [_new_stock(code, at) for code in codes], ["sku"])


def _new_stock(sku: str, at: datetime) -> dict[str, Any]:
    return {"sku": sku, "base_on_hand": 0, "first_seen": at}


# ---- orders --------------------------------------------------------------------------------


async def record_placed(delivery: AnalyticsDelivery, event: OrderPlacedV1) -> None:
    """The order's row and its lines; the total is split over the lines (docs/kpis.md)."""
    conn = await _connection(delivery)
    total_cny = _cny(event.total, delivery)
    merged: dict[str, dict[str, Any]] = {}
    for item in event.items:  # one row per SKU, should an order list a SKU twice
        line = merged.setdefault(
            item.sku, {"product_id": item.product_id, "quantity": 0, "line_total": 0}
        )
        line["quantity"] += item.quantity
        line["line_total"] += item.line_total.amount
    shares = allocate(total_cny, [line["line_total"] for line in merged.values()])
    placed = {
        "order_id": event.order_id,
        "member_id": event.member_id,
        "currency": event.currency,
        "total": event.total.amount,
        "total_cny": total_cny,
        "coupon_code": event.coupon_code,
        "points": event.points,
        "placed_at": event.placed_at.astimezone(UTC),
    }
    await _upsert(conn, ORDERS, placed, ["order_id"], [k for k in placed if k != "order_id"])
    if merged:
        lines = [
            {
                "order_id": event.order_id,
                "sku": sku,
                "product_id": line["product_id"],
                "quantity": line["quantity"],
                "amount_cny": share,
            }
            for (sku, line), share in zip(merged.items(), shares, strict=True)
        ]
        await _upsert(conn, ORDER_LINES, lines, ["order_id", "sku"])


async def record_order_step(
    delivery: AnalyticsDelivery, order_id: str, member_id: str, **columns: Any
) -> None:
    """A later step of an order (confirmed, rejected, cancelled, returned): its own columns."""
    conn = await _connection(delivery)
    values = {"order_id": order_id, "member_id": member_id, **columns}
    await _upsert(conn, ORDERS, values, ["order_id"], list(columns))


async def record_confirmed(delivery: AnalyticsDelivery, order_id: str, member_id: str) -> None:
    at = event_time(delivery)
    await record_order_step(delivery, order_id, member_id, confirmed_at=at)
    await _count_units(delivery, order_id, sold=True)


async def record_units_back(delivery: AnalyticsDelivery, order_id: str) -> None:
    """A paid order's units came back (returned, or cancelled after payment)."""
    await _count_units(delivery, order_id, sold=False)


async def _count_units(delivery: AnalyticsDelivery, order_id: str, *, sold: bool) -> None:
    """Add the order's lines to the SKUs' day (one INSERT ... SELECT ... ON CONFLICT), and on a
    sale move each SKU's last sale forward."""
    conn = await _connection(delivery)
    at = event_time(delivery)
    day = local_day(at, delivery.runtime.settings.zone)
    lines = ORDER_LINES.c
    units, back = (lines.quantity, sa.literal(0)) if sold else (sa.literal(0), lines.quantity)
    gmv = lines.amount_cny if sold else sa.literal(0)
    source = sa.select(lines.sku, sa.literal(day, sa.Date), units, back, gmv).where(
        lines.order_id == order_id
    )
    columns = ["sku", "day", "units_sold", "units_returned", "gmv_cny"]
    statement = _insert(conn, SKU_DAYS).from_select(columns, source)
    days = SKU_DAYS.c
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["sku", "day"],
            set_={
                "units_sold": days.units_sold + statement.excluded.units_sold,
                "units_returned": days.units_returned + statement.excluded.units_returned,
                "gmv_cny": days.gmv_cny + statement.excluded.gmv_cny,
            },
        )
    )
    if not sold:
        return
    at_value = sa.literal(at, sa.DateTime(timezone=True))
    source = sa.select(lines.sku, sa.literal(0), at_value, at_value).where(
        lines.order_id == order_id
    )
    statement = _insert(conn, STOCK).from_select(
        ["sku", "base_on_hand", "first_seen", "last_sold_at"], source
    )
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["sku"],
            set_={"last_sold_at": statement.excluded.last_sold_at},
            where=_newer(STOCK.c.last_sold_at, statement.excluded.last_sold_at),
        )
    )


# ---- payments ------------------------------------------------------------------------------


async def record_money_back(
    delivery: AnalyticsDelivery,
    order_id: str,
    kind: MoneyBackKind,
    reference: str,
    amount: Money,
) -> None:
    conn = await _connection(delivery)
    row = {
        "order_id": order_id,
        "kind": kind.value,
        "reference": reference,
        "amount": amount.amount,
        "currency": amount.currency,
        "amount_cny": _cny(amount, delivery),
        "at": event_time(delivery),
    }
    await _upsert(conn, MONEY_BACK, row, ["order_id", "kind", "reference"])


# ---- inventory -----------------------------------------------------------------------------


async def record_count(delivery: AnalyticsDelivery, event: StockAdjustedV1) -> None:
    """An absolute on-hand figure: it replaces the stored one unless that one is newer."""
    conn = await _connection(delivery)
    at = event_time(delivery)
    row = {**_new_stock(event.sku, at), "base_on_hand": event.on_hand, "base_at": at}
    statement = _insert(conn, STOCK).values(row)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["sku"],
            set_={
                "base_on_hand": statement.excluded.base_on_hand,
                "base_at": statement.excluded.base_at,
            },
            where=_newer(STOCK.c.base_at, statement.excluded.base_at),
        )
    )


async def record_safety_stock(delivery: AnalyticsDelivery, event: StockLowV1) -> None:
    conn = await _connection(delivery)
    at = event_time(delivery)
    row = {**_new_stock(event.sku, at), "safety_stock": event.safety_stock, "safety_at": at}
    statement = _insert(conn, STOCK).values(row)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["sku"],
            set_={
                "safety_stock": statement.excluded.safety_stock,
                "safety_at": statement.excluded.safety_at,
            },
            where=_newer(STOCK.c.safety_at, statement.excluded.safety_at),
        )
    )


async def record_committed(delivery: AnalyticsDelivery, event: StockCommittedV1) -> None:
    """Units left the shelf for good: a COMMIT move per SKU."""
    conn = await _connection(delivery)
    at = event_time(delivery)
    moves: dict[str, int] = {}
    for line in event.lines:
        moves[line.sku] = moves.get(line.sku, 0) - line.quantity
    if not moves:
        return
    await _upsert(conn, STOCK, [_new_stock(sku, at) for sku in sorted(moves)], ["sku"])
    await _upsert(
        conn,
        STOCK_MOVES,
        [
            {"order_id": event.order_id, "sku": sku, "kind": "COMMIT", "delta": delta, "at": at}
            for sku, delta in sorted(moves.items())
        ],
        ["order_id", "sku", "kind"],
    )


async def record_released(delivery: AnalyticsDelivery, event: StockReleasedV1) -> None:
    """Units back on the shelf: only those of a committed order change on hand (a release of
    units merely reserved moved nothing), so the RESTOCK moves are the order's COMMIT moves
    turned around, in one INSERT ... SELECT."""
    conn = await _connection(delivery)
    moves = STOCK_MOVES.c
    source = sa.select(
        moves.order_id,
        moves.sku,
        sa.literal("RESTOCK"),
        -moves.delta,
        sa.literal(event_time(delivery), sa.DateTime(timezone=True)),
    ).where(moves.order_id == event.order_id, moves.kind == "COMMIT")
    statement = _insert(conn, STOCK_MOVES).from_select(
        ["order_id", "sku", "kind", "delta", "at"], source
    )
    await conn.execute(statement.on_conflict_do_nothing(index_elements=["order_id", "sku", "kind"]))


# ---- membership ----------------------------------------------------------------------------


async def record_member(delivery: AnalyticsDelivery, event: MemberRegisteredV1) -> None:
    conn = await _connection(delivery)
    row = {"member_id": event.member_id, "registered_at": event.registered_at.astimezone(UTC)}
    await _upsert(conn, MEMBERS, row, ["member_id"], ["registered_at"])


async def record_tier(delivery: AnalyticsDelivery, event: TierChangedV1) -> None:
    conn = await _connection(delivery)
    row = {"member_id": event.member_id, "tier": event.new_tier, "tier_at": event_time(delivery)}
    statement = _insert(conn, MEMBERS).values(row)
    await conn.execute(
        statement.on_conflict_do_update(
            index_elements=["member_id"],
            set_={"tier": statement.excluded.tier, "tier_at": statement.excluded.tier_at},
            where=_newer(MEMBERS.c.tier_at, statement.excluded.tier_at),
        )
    )


async def record_coupon(delivery: AnalyticsDelivery, event: CouponIssuedV1) -> None:
    conn = await _connection(delivery)
    row = {
        "code": event.coupon_code,
        "member_id": event.member_id,
        "kind": event.kind[:30],
        "issued_at": event_time(delivery),
    }
    await _upsert(conn, COUPONS, row, ["code"], ["member_id", "kind", "issued_at"])


async def record_coupon_use(
    delivery: AnalyticsDelivery, event: CouponRedeemedV1 | CouponRestoredV1
) -> None:
    conn = await _connection(delivery)
    column = "redeemed_at" if isinstance(event, CouponRedeemedV1) else "restored_at"
    row = {"code": event.coupon_code, "order_id": event.order_id, column: event_time(delivery)}
    await _upsert(conn, COUPON_USES, row, ["code", "order_id"], [column])


async def record_points(
    delivery: AnalyticsDelivery,
    kind: PointsKind,
    member_id: str,
    points: int,
    order_id: str | None = None,
) -> None:
    conn = await _connection(delivery)
    row = {
        "event_id": delivery.envelope.id,
        "kind": kind.value,
        "member_id": member_id,
        "order_id": order_id,
        "points": points,
        "at": event_time(delivery),
    }
    await _upsert(conn, POINTS_MOVES, row, ["event_id"])
