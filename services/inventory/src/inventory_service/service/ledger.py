"""The stock ledger: every change of on-hand or reserved is a row of `stock_movements`, written
in the transaction of the change it describes (and rolled back with it)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from inventory_service.domain.stock import MovementKind
from inventory_service.tables import MOVEMENTS

_INSERT = sa.insert(MOVEMENTS)


def movement(
    sku: str,
    kind: MovementKind,
    delta_on_hand: int,
    delta_reserved: int,
    reason: str,
    order_id: str | None = None,
    *,
    lot: str | None = None,
) -> dict[str, Any]:
    return {
        "sku": sku,
        "lot": lot,
        "order_id": order_id,
        "kind": kind.value,
        "delta_on_hand": delta_on_hand,
        "delta_reserved": delta_reserved,
        "reason": reason,
        "at": datetime.now(UTC),
    }


async def write_movements(connection: AsyncConnection, movements: list[dict[str, Any]]) -> None:
    """The ledger rows, one executemany INSERT on the transaction's connection."""
    if movements:
        await connection.execute(_INSERT, movements)
