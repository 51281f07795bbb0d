"""Allocations in the database: which lot holds the units of which order's line.

Written in the transaction of the reservation step they belong to; read by order (the saga's
steps) or by lot (withdrawals, recall reports)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from inventory_service.domain.lots import AllocationStatus, LotStatus
from inventory_service.tables import ALLOCATIONS, LOTS


@dataclass(frozen=True, slots=True)
class Allocation:
    """An order's units in one lot, with whether the lot is still sellable."""

    id: int
    order_id: str
    sku: str
    lot: str
    quantity: int
    status: AllocationStatus
    trace_code: str | None
    lot_status: LotStatus
    shipped: bool
    member_id: str | None
    product_name: str | None
    lot_expiry_date: date | None

    @property
    def sellable(self) -> bool:
        return self.lot_status is LotStatus.SELLABLE


_TIME = sa.DateTime(timezone=True)
_INSERT = sa.insert(ALLOCATIONS)
_ORDER_IDS: sa.BindParameter[list[str]] = sa.bindparam("order_ids", expanding=True)
_ACTIVE = (AllocationStatus.HELD.value, AllocationStatus.COMMITTED.value)
_OF_ORDERS = (
    sa.select(
        ALLOCATIONS.c.id,
        ALLOCATIONS.c.order_id,
        ALLOCATIONS.c.sku,
        ALLOCATIONS.c.lot,
        ALLOCATIONS.c.quantity,
        ALLOCATIONS.c.status,
        ALLOCATIONS.c.trace_code,
        LOTS.c.status,
        ALLOCATIONS.c.shipped_at.is_not(None),
        ALLOCATIONS.c.member_id,
        ALLOCATIONS.c.product_name,
        LOTS.c.expiry_date,
    )
    .join(LOTS, sa.and_(LOTS.c.sku == ALLOCATIONS.c.sku, LOTS.c.code == ALLOCATIONS.c.lot))
    .where(ALLOCATIONS.c.order_id.in_(_ORDER_IDS), ALLOCATIONS.c.status.in_(_ACTIVE))
    .order_by(ALLOCATIONS.c.order_id, ALLOCATIONS.c.sku, ALLOCATIONS.c.id)
)
_SET = (
    sa.update(ALLOCATIONS)
    .where(ALLOCATIONS.c.id == sa.bindparam("b_id"))
    .values(
        status=sa.bindparam("status"),
        trace_code=sa.func.coalesce(
            sa.bindparam("trace_code", type_=sa.String), ALLOCATIONS.c.trace_code
        ),
        committed_at=sa.func.coalesce(
            ALLOCATIONS.c.committed_at,
            sa.bindparam("committed_at", type_=_TIME),
        ),
        returned_at=sa.func.coalesce(
            ALLOCATIONS.c.returned_at, sa.bindparam("returned_at", type_=_TIME)
        ),
        reason=sa.func.coalesce(ALLOCATIONS.c.reason, sa.bindparam("reason", type_=sa.String)),
        updated_at=sa.bindparam("at"),
    )
)
_AT = sa.bindparam("at", type_=_TIME)
_OF_ORDER = sa.update(ALLOCATIONS).where(
    ALLOCATIONS.c.order_id == sa.bindparam("b_order_id"),
    ALLOCATIONS.c.status == AllocationStatus.COMMITTED.value,
)
_SHIPPED = _OF_ORDER.where(ALLOCATIONS.c.shipped_at.is_(None)).values(
    shipped_at=_AT, updated_at=_AT
)
_DELIVERED = _OF_ORDER.where(ALLOCATIONS.c.delivered_at.is_(None)).values(
    delivered_at=_AT, shipped_at=sa.func.coalesce(ALLOCATIONS.c.shipped_at, _AT), updated_at=_AT
)


def new_allocation(
    order_id: str,
    sku: str,
    lot: str,
    quantity: int,
    status: AllocationStatus,
    at: datetime,
    *,
    member_id: str | None,
    product_name: str | None,
    trace_code: str | None = None,
) -> dict[str, Any]:
    committed = status is AllocationStatus.COMMITTED
    return {
        "order_id": order_id,
        "sku": sku,
        "lot": lot,
        "quantity": quantity,
        "status": status.value,
        "trace_code": trace_code,
        "member_id": member_id,
        "product_name": product_name,
        "reason": None,
        "reserved_at": at,
        "committed_at": at if committed else None,
        "updated_at": at,
    }


async def product_names(conn: AsyncConnection, order_id: str) -> dict[str, str]:
    """The product name each SKU of the order's allocations (any status) was sold under."""
    query = sa.select(ALLOCATIONS.c.sku, ALLOCATIONS.c.product_name).where(
        ALLOCATIONS.c.order_id == order_id, ALLOCATIONS.c.product_name.is_not(None)
    )
    return {row.sku: row.product_name for row in await conn.execute(query)}


async def insert_allocations(conn: AsyncConnection, rows: Sequence[dict[str, Any]]) -> None:
    if rows:
        await conn.execute(_INSERT, list(rows))


async def active_allocations(
    conn: AsyncConnection, order_ids: Sequence[str]
) -> dict[str, list[Allocation]]:
    """The HELD and COMMITTED allocations of the orders, by order (SKU order within)."""
    rows = (await conn.execute(_OF_ORDERS, {"order_ids": list(order_ids)})).all()
    found: dict[str, list[Allocation]] = {}
    for id_, order_id, sku, lot, quantity, status, trace_code, lot_status, *rest in rows:
        shipped, member_id, product_name, lot_expiry_date = rest
        found.setdefault(order_id, []).append(
            Allocation(
                int(id_),
                order_id,
                sku,
                lot,
                int(quantity),
                AllocationStatus(status),
                trace_code,
                LotStatus(lot_status),
                bool(shipped),
                member_id,
                product_name,
                lot_expiry_date,
            )
        )
    return found


def allocation_change(
    allocation_id: int,
    status: AllocationStatus,
    at: datetime,
    *,
    trace_code: str | None = None,
    committed: bool = False,
    returned: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    return {
        "b_id": allocation_id,
        "status": status.value,
        "trace_code": trace_code,
        "committed_at": at if committed else None,
        "returned_at": at if returned else None,
        "reason": reason,
        "at": at,
    }


async def set_allocations(conn: AsyncConnection, changes: Sequence[dict[str, Any]]) -> None:
    """Apply `allocation_change`s, one executemany UPDATE."""
    if changes:
        await conn.execute(_SET, list(changes))


async def mark_shipped(conn: AsyncConnection, order_id: str, at: datetime) -> int:
    """The order's committed units left the warehouse: the chain of custody records it."""
    result = await conn.execute(_SHIPPED, {"b_order_id": order_id, "at": at})
    return int(result.rowcount)


async def mark_delivered(conn: AsyncConnection, order_id: str, at: datetime) -> int:
    result = await conn.execute(_DELIVERED, {"b_order_id": order_id, "at": at})
    return int(result.rowcount)
