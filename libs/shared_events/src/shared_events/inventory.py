"""Events published by the inventory service on `inventory.events`.

Reservation events have the order id as subject; stock-level events the SKU.
"""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared_events.registry import EventPayload, registry


class StockLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int = Field(gt=0)


class ShortLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    requested: int
    available: int


@registry.event("inventory.stock.reserved", 1)
class StockReservedV1(EventPayload):
    order_id: str
    lines: list[StockLine]
    expires_at: datetime


@registry.event("inventory.stock.rejected", 1)
class StockRejectedV1(EventPayload):
    """Nothing was reserved: at least one line was short (or its SKU unknown)."""

    order_id: str
    short: list[ShortLine]


@registry.event("inventory.stock.committed", 1)
class StockCommittedV1(EventPayload):
    """The order is confirmed: reserved units left the shelf for good."""

    order_id: str
    lines: list[StockLine]


@registry.event("inventory.stock.released", 1)
class StockReleasedV1(EventPayload):
    """Reserved or committed units returned to the shelf. `reason`: ORDER_REJECTED,
    ORDER_CANCELLED, EXPIRED."""

    order_id: str
    lines: list[StockLine]
    reason: str


@registry.event("inventory.stock.adjusted", 1)
class StockAdjustedV1(EventPayload):
    sku: str
    delta: int
    on_hand: int
    reserved: int
    available: int
    reason: str


@registry.event("inventory.stock.low", 1)
class StockLowV1(EventPayload):
    """Available stock fell under the SKU's safety stock."""

    sku: str
    available: int
    safety_stock: int
