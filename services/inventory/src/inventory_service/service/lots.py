"""Lots for admins: receiving stock by lot, reading lots, and the implicit lot that stock
received without lots lives in (so that every movement names a lot)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import as_utc, insert_ignore
from chassis.errors import Conflict, NotFound
from chassis.staging import session_stage
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.lots import DEFAULT_LOT, LotStatus, is_expired, shop_today
from inventory_service.domain.stock import MovementKind
from inventory_service.schemas import LotAdmin, LotList, LotReceive, OriginPublic
from inventory_service.service.ledger import movement, write_movements
from inventory_service.service.lot_levels import change_lots
from inventory_service.service.stock_levels import (
    change_levels,
    lock_levels,
    new_stock,
    now,
    stage_adjusted,
)
from inventory_service.tables import LOTS, STOCK
from shared_events import inventory as events

_LOT_COLUMNS = (
    LOTS.c.sku,
    LOTS.c.code,
    LOTS.c.status,
    LOTS.c.on_hand,
    LOTS.c.reserved,
    LOTS.c.received,
    LOTS.c.disposed,
    LOTS.c.origin_country,
    LOTS.c.origin_region,
    LOTS.c.producer,
    LOTS.c.production_date,
    LOTS.c.expiry_date,
    LOTS.c.storage_class,
    LOTS.c.inspection_ref,
    LOTS.c.inspected_at,
    LOTS.c.received_at,
    LOTS.c.withdrawn_at,
)
_STOCKED_BY_LOT = sa.exists().where(
    LOTS.c.sku == sa.bindparam("sku"),
    LOTS.c.code != DEFAULT_LOT,
    LOTS.c.status == LotStatus.SELLABLE.value,
)


def origin_of(row: Any) -> OriginPublic | None:
    if row.origin_country is None:
        return None
    return OriginPublic(
        country=row.origin_country, region=row.origin_region, producer=row.producer or ""
    )


def lot_view(row: Any) -> LotAdmin:
    """The admin's shape takes the lot's columns by name; the rest follows from them."""
    sellable = row.status == LotStatus.SELLABLE.value
    return LotAdmin.model_validate(
        {
            **row._mapping,
            "lot": row.code,
            "available": row.on_hand - row.reserved if sellable else 0,
            "origin": origin_of(row),
            "inspected_at": as_utc(row.inspected_at),
            "received_at": as_utc(row.received_at),
            "withdrawn_at": as_utc(row.withdrawn_at),
        }
    )


async def stocked_by_lot(conn: AsyncConnection, sku: str) -> bool:
    """Whether the SKU has sellable lots of its own: then a stock take of the SKU's total or
    an adjustment without a lot is ambiguous, and refused."""
    return bool((await conn.execute(sa.select(_STOCKED_BY_LOT), {"sku": sku})).scalar())


async def set_default_lot(session: AsyncSession, sku: str, on_hand: int, at: datetime) -> None:
    """The implicit lot follows a stock take of a SKU received without lots (what the count
    found beyond the lot's units counts as received). Only while it is sellable: once recalled
    or expired its units are out of sale, and a count of sellable stock cannot be put back
    into it (409; new units come in as a named lot)."""
    await insert_ignore(session, LOTS, [_lot_row(sku, DEFAULT_LOT, 0, at)])
    found = sa.case((LOTS.c.on_hand < on_hand, on_hand - LOTS.c.on_hand), else_=0)
    taken = await (await session.connection()).execute(
        sa.update(LOTS)
        .where(
            LOTS.c.sku == sku,
            LOTS.c.code == DEFAULT_LOT,
            LOTS.c.status == LotStatus.SELLABLE.value,
        )
        .values(received=LOTS.c.received + found, on_hand=on_hand, updated_at=at)
    )
    if taken.rowcount == 0:
        raise Conflict(
            f"the units of SKU {sku} received without a lot were recalled or expired: receive "
            "new units into a named lot (POST .../lots)",
            code="default-lot-withdrawn",
        )


def _lot_row(sku: str, code: str, quantity: int, at: datetime, **attributes: Any) -> dict[str, Any]:
    return {
        "sku": sku,
        "code": code,
        "status": LotStatus.SELLABLE.value,
        "on_hand": quantity,
        "reserved": 0,
        "received": quantity,
        "storage_class": attributes.pop("storage_class", "AMBIENT"),
        "received_at": at,
        "updated_at": at,
        **attributes,
    }


async def receive_lot(runtime: InventoryRuntime, sku: str, data: LotReceive) -> LotAdmin:
    """Units of a lot arrived: the lot is created (or grows), its SKU's stock with it. The
    stock record is created when the catalog event has not arrived yet."""
    at = now()
    if is_expired(data.expiry_date, shop_today(runtime.settings.shop_zone, at)):
        raise Conflict(f"lot {data.lot} expired on {data.expiry_date}", code="lot-expired")
    # What must match when a known lot is received again.
    attributes = {
        "origin_country": data.origin.country if data.origin else None,
        "origin_region": data.origin.region if data.origin else None,
        "producer": data.origin.producer if data.origin else None,
        "production_date": data.production_date,
        "expiry_date": data.expiry_date,
        "storage_class": data.storage_class,
    }
    async with runtime.database.transaction() as session:
        await insert_ignore(
            session, STOCK, [new_stock(sku, runtime.settings.default_safety_stock, at)]
        )
        conn = await session.connection()
        # Every lot writer locks its SKU's stock row first.
        [level] = (await lock_levels(conn, [sku])).values()
        level.adjusted(data.quantity)  # the SKU's ceiling
        known = (
            await conn.execute(
                sa.select(*_LOT_COLUMNS).where(LOTS.c.sku == sku, LOTS.c.code == data.lot)
            )
        ).first()
        if known is None:
            row = _lot_row(
                sku,
                data.lot,
                data.quantity,
                at,
                inspection_ref=data.inspection_ref,
                inspected_at=data.inspected_at,
                **attributes,
            )
            await conn.execute(sa.insert(LOTS), [row])
        else:
            if known.status != LotStatus.SELLABLE.value:
                raise Conflict(f"lot {data.lot} is {known.status.lower()}", code="lot-withdrawn")
            if any(getattr(known, name) != value for name, value in attributes.items()):
                raise Conflict(
                    f"lot {data.lot} was received with other dates, origin or storage class",
                    code="lot-mismatch",
                )
            await change_lots(conn, [(sku, data.lot, data.quantity, 0)], at)
            await conn.execute(
                sa.update(LOTS)
                .where(LOTS.c.sku == sku, LOTS.c.code == data.lot)
                .values(received=LOTS.c.received + data.quantity)
            )
        [(_, after)] = await change_levels(conn, [(sku, data.quantity, 0)])
        receipt = movement(sku, MovementKind.RECEIVE, data.quantity, 0, "RECEIVE", lot=data.lot)
        await write_movements(conn, [receipt])
        stage = session_stage(runtime.outbox, session, correlate=True)
        stage(
            # The event repeats the receipt as sent, but for the inspection time.
            events.LotReceivedV1(
                **data.model_dump(exclude={"inspected_at"}), sku=sku, received_at=at
            ),
            subject=sku,
        )
        stage_adjusted(stage, sku, data.quantity, after, "RECEIVE")
        return await get_lot_in(conn, sku, data.lot)


async def get_lot_in(conn: AsyncConnection, sku: str, lot: str) -> LotAdmin:
    row = (
        await conn.execute(sa.select(*_LOT_COLUMNS).where(LOTS.c.sku == sku, LOTS.c.code == lot))
    ).first()
    if row is None:
        raise NotFound(f"SKU {sku} has no lot {lot}")
    return lot_view(row)


async def get_lot(runtime: InventoryRuntime, sku: str, lot: str) -> LotAdmin:
    async with runtime.database.reads() as session:
        return await get_lot_in(await session.connection(), sku, lot)


async def list_lots(runtime: InventoryRuntime, sku: str) -> LotList:
    """The SKU's lots, first expired first (the order in which they are sold)."""
    query = (
        sa.select(*_LOT_COLUMNS)
        .where(LOTS.c.sku == sku)
        .order_by(LOTS.c.expiry_date.asc().nulls_last(), LOTS.c.received_at, LOTS.c.code)
    )
    async with runtime.database.reads() as session:
        rows = (await (await session.connection()).execute(query)).all()
        if (
            not rows
            and (
                await (await session.connection()).execute(
                    sa.select(STOCK.c.sku).where(STOCK.c.sku == sku)
                )
            ).first()
            is None
        ):
            raise NotFound(f"SKU {sku} has no stock record")
    return LotList(items=[lot_view(row) for row in rows])
