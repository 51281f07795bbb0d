"""Stock records: admin receipts and adjustments, the storefront's availability, and the
records created from `catalog.product.created`."""

from __future__ import annotations

from datetime import datetime
from functools import partial

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import as_utc, insert_ignore
from chassis.errors import ConcurrentChange, Conflict, NotFound
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.lots import DEFAULT_LOT
from inventory_service.domain.stock import MAX_UNITS, MovementKind, StockLevel
from inventory_service.schemas import AdjustmentCreate, StockAdmin, StockPublic, StockSet
from inventory_service.service.ledger import movement, write_movements
from inventory_service.service.lot_levels import adjust_lot
from inventory_service.service.lots import set_default_lot, stocked_by_lot
from inventory_service.service.stock_levels import (
    available_of,
    change_stock,
    new_stock,
    now,
    read_level,
    signal_low,
    stage_adjusted,
)
from inventory_service.tables import STOCK, StockRow
from shared_events.catalog import ProductCreatedV1

_STOCKED_BY_LOT = Conflict(
    "this SKU is stocked by lot: receive units into a lot (POST .../lots) or name the lot",
    code="stocked-by-lot",
)


def _admin_view(sku: str, level: StockLevel, updated_at: datetime) -> StockAdmin:
    return StockAdmin(
        sku=sku,
        available=level.available,
        on_hand=level.on_hand,
        reserved=level.reserved,
        safety_stock=level.safety_stock,
        low=level.is_low,
        updated_at=as_utc(updated_at),
    )


async def get_stock(runtime: InventoryRuntime, sku: str) -> StockAdmin:
    async with runtime.database.reads() as session:
        row = await session.get(StockRow, sku)
    if row is None:
        raise NotFound(f"SKU {sku} has no stock record")
    level = StockLevel(row.on_hand, row.reserved, row.safety_stock)
    return _admin_view(sku, level, row.updated_at)


async def get_available(runtime: InventoryRuntime, sku: str) -> StockPublic:
    stock = await get_stock(runtime, sku)
    return StockPublic(sku=stock.sku, available=stock.available)


async def list_available(runtime: InventoryRuntime, skus: list[str]) -> list[StockPublic]:
    """Availability of several SKUs in one read (the gateway fills product listings with it);
    unknown SKUs are left out."""
    async with runtime.database.reads() as session:
        found = await available_of(session, skus)
    return [
        StockPublic(sku=sku, available=found[sku]) for sku in dict.fromkeys(skus) if sku in found
    ]


async def set_stock(runtime: InventoryRuntime, sku: str, data: StockSet) -> tuple[StockAdmin, bool]:
    """Set the counted on-hand quantity (and the safety stock). The record is created when the
    catalog event has not arrived yet. Returns the stock and whether it was created."""
    at = now()
    async with runtime.database.transaction() as session:
        # A write first, so that SQLite takes its write lock before the read below.
        safety = runtime.settings.default_safety_stock
        created = await insert_ignore(session, STOCK, [new_stock(sku, safety, at)])
        row = (
            await session.exec(select(StockRow).where(StockRow.sku == sku).with_for_update())
        ).one()
        before = StockLevel(row.on_hand, row.reserved, row.safety_stock)
        after = before.received(data.on_hand, data.safety_stock)
        if after.on_hand != before.on_hand:
            if await stocked_by_lot(await session.connection(), sku):
                raise _STOCKED_BY_LOT
            await set_default_lot(session, sku, after.on_hand, at)
        if after != before:
            row.on_hand, row.safety_stock, row.updated_at = after.on_hand, after.safety_stock, at
            session.add(row)
        stage = partial(runtime.outbox.stage, session)
        delta = after.on_hand - before.on_hand
        if delta:
            reason = MovementKind.RECEIVE.value
            receipt = movement(sku, MovementKind.RECEIVE, delta, 0, reason, lot=DEFAULT_LOT)
            await write_movements(await session.connection(), [receipt])
            stage_adjusted(stage, sku, delta, after, reason)
        signal_low(stage, sku, before, after)
    return _admin_view(sku, after, row.updated_at), created > 0


async def adjust_stock(runtime: InventoryRuntime, sku: str, data: AdjustmentCreate) -> StockAdmin:
    """Correct on-hand by a delta in one lot (the implicit one for stock received without
    lots); never below what is reserved for orders, in the SKU or in the lot."""
    lot = data.lot or DEFAULT_LOT
    async with runtime.database.transaction() as session:
        fits = STOCK.c.on_hand + data.delta >= STOCK.c.reserved
        if data.delta > 0:
            fits = sa.and_(fits, STOCK.c.on_hand + data.delta <= MAX_UNITS)
        after = await change_stock(session, sku, data.delta, 0, when=fits)
        if after is None:
            current = await read_level(session, sku)
            if current is None:
                raise NotFound(f"SKU {sku} has no stock record")
            current.adjusted(data.delta)  # names the rule the adjustment breaks
            raise ConcurrentChange("the stock changed meanwhile; try again")
        conn = await session.connection()
        if data.lot is None and await stocked_by_lot(conn, sku):
            raise _STOCKED_BY_LOT
        if not await adjust_lot(conn, sku, lot, data.delta):
            raise Conflict(
                f"lot {lot} of {sku} is not sellable, unknown, or has fewer than "
                f"{-data.delta} units that no order holds",
                code="lot-cannot-change",
            )
        adjustment = movement(sku, MovementKind.ADJUST, data.delta, 0, data.reason, lot=lot)
        await write_movements(await session.connection(), [adjustment])
        stage = partial(runtime.outbox.stage, session)
        stage_adjusted(stage, sku, data.delta, after, data.reason)
        signal_low(stage, sku, after.before(data.delta, 0), after)
    return _admin_view(sku, after, now())


async def register_skus(
    session: AsyncSession, product: ProductCreatedV1, *, safety_stock: int
) -> int:
    """`catalog.product.created`: a record with nothing on hand for each SKU not known yet;
    an existing record (an admin received stock first) is left alone."""
    at = now()
    rows = [new_stock(sku, safety_stock, at) for sku in sorted({s.sku for s in product.skus})]
    return await insert_ignore(session, STOCK, rows) if rows else 0
