"""Helpers of the lot tests: receiving lots over HTTP, the saga's handlers called directly
(each in its own transaction, as the consumer runs them), the passing of time, and the stock
invariants every lot test ends with."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import sqlalchemy as sa

from chassis.consumer import Delivery
from chassis.db import Database
from chassis.testing.events import envelope_of
from chassis.testing.orders import order_cancelled
from inventory_service import handlers
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.lots import shop_today
from inventory_service.tables import ALLOCATIONS, LOTS, RESERVATIONS, STOCK
from shared_events import EventPayload
from shared_events.money import Money
from shared_events.order import OrderDeliveredV1, OrderReturnedV1, OrderShippedV1

from .conftest import Inventory, confirmed, order_placed

PROBLEM = "application/problem+json"


def today(inventory: Inventory) -> date:
    """The shop's calendar day now (expiry dates are days in the shop's time zone)."""
    return shop_today(inventory.settings.shop_zone, datetime.now(UTC))


def lot_body(lot: str, quantity: int, **fields: Any) -> dict[str, Any]:
    """A lot as a food shop receives it: origin, dates, storage class and inspection."""
    return {
        "lot": lot,
        "quantity": quantity,
        "origin": {"country": "CN", "region": "Fujian, Anxi", "producer": "Longjuan Tea Co-op"},
        "production_date": "2026-01-05",
        "storage_class": "AMBIENT",
        "inspection_ref": f"CIQ-{lot}",
        "inspected_at": "2026-01-06T09:30:00+08:00",
        **fields,
    }


async def receive_lot(
    inventory: Inventory, sku: str, lot: str, quantity: int, expiry: date | None, **fields: Any
) -> dict[str, Any]:
    body = lot_body(lot, quantity, expiry_date=expiry.isoformat() if expiry else None, **fields)
    response = await inventory.http.post(
        f"/api/v1/admin/inventory/{sku}/lots", json=body, headers=inventory.admin
    )
    assert response.status_code == 201, response.text
    received: dict[str, Any] = response.json()
    return received


async def lots_of(inventory: Inventory, sku: str) -> list[dict[str, Any]]:
    """`GET /admin/inventory/{sku}/lots`: the SKU's lots in the order they are sold."""
    response = await inventory.http.get(
        f"/api/v1/admin/inventory/{sku}/lots", headers=inventory.admin
    )
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def lot_levels(inventory: Inventory, sku: str) -> dict[str, tuple[str, int, int]]:
    """lot -> (status, on_hand, reserved), as an admin reads them."""
    return {
        lot["lot"]: (lot["status"], lot["on_hand"], lot["reserved"])
        for lot in await lots_of(inventory, sku)
    }


async def stock_levels(inventory: Inventory, sku: str) -> tuple[int, int, int]:
    """(on_hand, reserved, available) of the SKU, as an admin reads them."""
    response = await inventory.http.get(f"/api/v1/admin/inventory/{sku}", headers=inventory.admin)
    assert response.status_code == 200, response.text
    body = response.json()
    return body["on_hand"], body["reserved"], body["available"]


async def age_lot(database: Database, sku: str, lot: str, expiry: date) -> None:
    """Time passes: the lot's expiry date is now `expiry` (a lot cannot be received already
    expired, so an expired lot is a lot received earlier whose date went by)."""
    async with database.transaction() as session:
        await session.exec(
            sa.update(LOTS).where(LOTS.c.sku == sku, LOTS.c.code == lot).values(expiry_date=expiry)
        )


def yesterday(inventory: Inventory) -> date:
    return today(inventory) - timedelta(days=1)


async def _deliver(
    runtime: InventoryRuntime, payload: EventPayload, handler: Any, correlation_id: str
) -> None:
    async with runtime.database.transaction() as session:
        envelope = envelope_of(payload, correlation_id=correlation_id)
        await handler(Delivery(session, envelope, runtime.outbox, runtime), payload)


async def place(
    runtime: InventoryRuntime, order_id: str, lines: list[tuple[str, int]], member_id: str
) -> None:
    """The `order.order.placed` handler, in its own transaction, no broker."""
    payload = order_placed(order_id, lines).model_copy(update={"member_id": member_id})
    await _deliver(runtime, payload, handlers.on_order_placed, order_id)


async def confirm(runtime: InventoryRuntime, order_id: str) -> None:
    """The `order.order.confirmed` handler, in its own transaction, no broker."""
    await _deliver(runtime, confirmed(order_id), handlers.on_order_settled, order_id)


async def cancel(runtime: InventoryRuntime, order_id: str) -> None:
    """The `order.order.cancelled` handler (before confirmation), in its own transaction."""
    payload = order_cancelled(order_id, reason="CANCELLED_BY_CUSTOMER", was_confirmed=False)
    await _deliver(runtime, payload, handlers.on_order_settled, order_id)


async def ship(runtime: InventoryRuntime, order_id: str, member_id: str) -> None:
    payload = OrderShippedV1(order_id=order_id, member_id=member_id)
    await _deliver(runtime, payload, handlers.on_order_shipped, order_id)


async def deliver(runtime: InventoryRuntime, order_id: str, member_id: str) -> None:
    payload = OrderDeliveredV1(order_id=order_id, member_id=member_id)
    await _deliver(runtime, payload, handlers.on_order_delivered, order_id)


async def give_back(runtime: InventoryRuntime, order_id: str, member_id: str) -> None:
    """The member returned the order (`order.order.returned`)."""
    payload = OrderReturnedV1(
        order_id=order_id,
        member_id=member_id,
        reason="RECALLED",
        total=Money(amount=1000, currency="CNY"),
    )
    await _deliver(runtime, payload, handlers.on_order_settled, order_id)


async def allocations_of(database: Database, order_id: str) -> list[tuple[str, str, int, str]]:
    """(sku, lot, quantity, status) of the order's allocations, oldest first."""
    query = (
        sa.select(
            ALLOCATIONS.c.sku, ALLOCATIONS.c.lot, ALLOCATIONS.c.quantity, ALLOCATIONS.c.status
        )
        .where(ALLOCATIONS.c.order_id == order_id)
        .order_by(ALLOCATIONS.c.id)
    )
    async with database.sessions() as session:
        return [tuple(row) for row in (await session.exec(query)).all()]  # type: ignore[misc]


async def reservation_status(database: Database, order_id: str) -> str | None:
    query = sa.select(RESERVATIONS.c.status).where(RESERVATIONS.c.order_id == order_id)
    async with database.sessions() as session:
        status: str | None = (await (await session.connection()).execute(query)).scalar()
    return status


async def assert_invariants(
    database: Database, skus: list[str], *, untraced: frozenset[str] | set[str] = frozenset()
) -> None:
    """The stock rules with lots, for `skus`: the SKU's stock is the sum of its sellable lots;
    no lot below zero or holding more reserved than it has; a sellable lot's reserved units
    are the units orders hold in it; every committed unit in exactly one known lot with a
    trace code (but the orders in `untraced`, committed before lots existed)."""
    async with database.sessions() as session:
        conn = await session.connection()
        stock = {
            row.sku: (row.on_hand, row.reserved)
            for row in await conn.execute(
                sa.select(STOCK.c.sku, STOCK.c.on_hand, STOCK.c.reserved).where(
                    STOCK.c.sku.in_(skus)
                )
            )
        }
        lots = (
            await conn.execute(
                sa.select(
                    LOTS.c.sku, LOTS.c.code, LOTS.c.status, LOTS.c.on_hand, LOTS.c.reserved
                ).where(LOTS.c.sku.in_(skus))
            )
        ).all()
        allocations = (
            await conn.execute(
                sa.select(
                    ALLOCATIONS.c.order_id,
                    ALLOCATIONS.c.sku,
                    ALLOCATIONS.c.lot,
                    ALLOCATIONS.c.quantity,
                    ALLOCATIONS.c.status,
                    ALLOCATIONS.c.trace_code,
                ).where(ALLOCATIONS.c.sku.in_(skus))
            )
        ).all()
    assert sorted(stock) == sorted(skus)
    known = {(lot.sku, lot.code): lot for lot in lots}
    for sku in skus:
        sellable = [lot for lot in lots if lot.sku == sku and lot.status == "SELLABLE"]
        assert stock[sku] == (
            sum(lot.on_hand for lot in sellable),
            sum(lot.reserved for lot in sellable),
        ), f"{sku}: stock {stock[sku]} is not the sum of its sellable lots"
        assert 0 <= stock[sku][1] <= stock[sku][0]
    for lot in lots:
        assert 0 <= lot.reserved <= lot.on_hand, f"lot {lot.code}: {lot.on_hand}/{lot.reserved}"
        if lot.status == "SELLABLE":
            held = sum(
                a.quantity
                for a in allocations
                if (a.sku, a.lot) == (lot.sku, lot.code) and a.status == "HELD"
            )
            assert lot.reserved == held, f"lot {lot.code}: reserved {lot.reserved}, held {held}"
    for allocation in allocations:
        assert (allocation.sku, allocation.lot) in known
        if allocation.status == "COMMITTED" and allocation.order_id not in untraced:
            assert allocation.trace_code is not None and len(allocation.trace_code) == 16
    codes = [a.trace_code for a in allocations if a.trace_code]
    assert len(codes) == len(set(codes))
