"""The chain of custody after the warehouse: when an order's units shipped and arrived (the
trace lookup shows it; a recall tells the members whose units had shipped)."""

from __future__ import annotations

from chassis.consumer import Delivery
from inventory_service.deps import InventoryRuntime
from inventory_service.service.allocation_rows import mark_delivered, mark_shipped


async def record_shipped(delivery: Delivery[InventoryRuntime], order_id: str) -> None:
    await mark_shipped(await delivery.session.connection(), order_id, delivery.envelope.time)


async def record_delivered(delivery: Delivery[InventoryRuntime], order_id: str) -> None:
    await mark_delivered(await delivery.session.connection(), order_id, delivery.envelope.time)
