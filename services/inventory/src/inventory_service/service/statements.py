"""The statements every use case builds on.

No oversell: stock only ever changes through one UPDATE per SKU whose WHERE clause is the rule
(the database applies it atomically; PostgreSQL re-checks it after waiting for a row lock),
SKUs are always touched in sorted order so transactions never wait on each other in a cycle,
and CHECK constraints in the schema back the rules up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.runtime import Runtime
from inventory_service import domain
from inventory_service.config import InventorySettings
from inventory_service.domain import MovementKind, StockLevel
from inventory_service.tables import MOVEMENTS, STOCK
from shared_events import EventPayload
from shared_events import inventory as events

_LEVEL = (STOCK.c.on_hand, STOCK.c.reserved, STOCK.c.safety_stock)


class Stage(Protocol):
    """Writes an event to the outbox in the current transaction: `Delivery.stage` in a
    handler, or `Outbox.stage` bound to the session."""

    def __call__(self, payload: EventPayload, *, subject: str) -> object: ...


def now() -> datetime:
    return datetime.now(UTC)


def settings_of(runtime: Runtime) -> InventorySettings:
    if not isinstance(runtime.settings, InventorySettings):
        raise TypeError("the inventory service runs with InventorySettings")
    return runtime.settings


def available_units() -> sa.ColumnElement[int]:
    return STOCK.c.on_hand - STOCK.c.reserved


def new_stock(sku: str, safety_stock: int, at: datetime) -> dict[str, Any]:
    return {"sku": sku, "on_hand": 0, "reserved": 0, "safety_stock": safety_stock, "updated_at": at}


async def change_stock(
    session: AsyncSession,
    sku: str,
    delta_on_hand: int,
    delta_reserved: int,
    *,
    when: sa.ColumnElement[bool] | None = None,
) -> StockLevel | None:
    """One atomic UPDATE of one SKU, applied only if `when` holds. Returns the level after,
    or None when the SKU is unknown or the condition did not hold."""
    statement = sa.update(STOCK).where(STOCK.c.sku == sku)
    if when is not None:
        statement = statement.where(when)
    statement = statement.values(
        on_hand=STOCK.c.on_hand + delta_on_hand,
        reserved=STOCK.c.reserved + delta_reserved,
        updated_at=now(),
    ).returning(*_LEVEL)
    row = (await session.exec(statement)).first()
    return StockLevel(*row) if row is not None else None


async def read_level(session: AsyncSession, sku: str, *, lock: bool = False) -> StockLevel | None:
    query = select(*_LEVEL).where(STOCK.c.sku == sku)
    row = (await session.exec(query.with_for_update() if lock else query)).first()
    return StockLevel(*row) if row is not None else None


async def available_of(session: AsyncSession, skus: Sequence[str]) -> dict[str, int]:
    """Available units of the known SKUs among `skus` (a plain read, no locks)."""
    query = select(STOCK.c.sku, available_units()).where(STOCK.c.sku.in_(skus))
    return {sku: int(units) for sku, units in (await session.exec(query)).all()}


def movement(
    sku: str,
    kind: MovementKind,
    delta_on_hand: int,
    delta_reserved: int,
    reason: str,
    order_id: str | None = None,
) -> dict[str, Any]:
    return {
        "sku": sku,
        "order_id": order_id,
        "kind": kind.value,
        "delta_on_hand": delta_on_hand,
        "delta_reserved": delta_reserved,
        "reason": reason,
        "at": now(),
    }


async def record(session: AsyncSession, movements: list[dict[str, Any]]) -> None:
    """Ledger rows, written with the change they describe (and rolled back with it)."""
    if movements:
        await session.exec(sa.insert(MOVEMENTS).values(movements))


def signal_low(stage: Stage, sku: str, before: StockLevel, after: StockLevel) -> None:
    """`inventory.stock.low` when available fell under the safety stock with this change."""
    if domain.became_low(before, after):
        stage(
            events.StockLowV1(sku=sku, available=after.available, safety_stock=after.safety_stock),
            subject=sku,
        )
