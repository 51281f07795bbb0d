"""Events published by the inventory service on `inventory.events`.

Reservation events (reserved, rejected, committed, released, reallocated, withdrawn) and recall
notices have the order id as subject; stock-level and lot events the SKU, so that one SKU's
lot events stay in order.

Lots: stock is received by lot (a production batch with an origin and dates). A SKU received
without lots has one implicit lot, `DEFAULT`. Reservation and commit allocate first-expired-
first-out; a lot past its expiry date, or recalled, is withdrawn from sale.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from shared_events.registry import EventPayload, registry

# The implicit lot of a SKU received without lots (non-food stock).
DEFAULT_LOT = "DEFAULT"

StorageClass = Literal["AMBIENT", "CHILLED", "FROZEN"]
# Why units left sale: the lot was recalled, or passed its expiry date.
WithdrawalReason = Literal["RECALLED", "LOT_EXPIRED"]


class StockLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int = Field(gt=0)


class ShortLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    requested: int
    available: int


@registry.event("inventory.stock.reserved", 1, key="order id")
class StockReservedV1(EventPayload):
    order_id: str
    lines: list[StockLine]
    expires_at: datetime


@registry.event("inventory.stock.rejected", 1, key="order id")
class StockRejectedV1(EventPayload):
    """Nothing was reserved: at least one line was short (or its SKU unknown). Also sent for an
    order confirmed after its reservation expired whose units could not be reserved again:
    nothing was committed, and the order is cancelled (OUT_OF_STOCK)."""

    order_id: str
    short: list[ShortLine]


@registry.event("inventory.stock.committed", 1, key="order id")
class StockCommittedV1(EventPayload):
    """The order is confirmed: reserved units left the shelf for good.

    Deprecated by v2 (which says which lots each line took): published beside v2 while
    `INVENTORY_PUBLISH_COMMITTED_V1` is on (the default during the deprecation window)."""

    order_id: str
    lines: list[StockLine]


class LotAllocation(BaseModel):
    """Units of one line taken from one lot. `trace_code` is the public code of these units
    (`GET /api/v1/trace/{code}`); None only while the units are reserved, not committed."""

    model_config = ConfigDict(frozen=True)

    lot: str
    quantity: int = Field(gt=0)
    trace_code: str | None = None


class CommittedLine(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    quantity: int = Field(gt=0)
    # First expired, first out; the quantities sum to `quantity`. Empty only for a commit
    # made before lots existed (a v1 record upcast to v2).
    allocations: list[LotAllocation]


@registry.event("inventory.stock.committed", 2, key="order id")
class StockCommittedV2(EventPayload):
    """The order is confirmed: reserved units left the shelf for good, from these lots, each
    allocation with its trace code."""

    order_id: str
    lines: list[CommittedLine]


@registry.upcaster("inventory.stock.committed", from_version=1)
def _committed_v1_to_v2(data: dict[str, Any]) -> dict[str, Any]:
    """A v1 commit names no lots: its lines get no allocations."""
    return {**data, "lines": [{**line, "allocations": []} for line in data["lines"]]}


@registry.event("inventory.stock.released", 1, key="order id")
class StockReleasedV1(EventPayload):
    """Reserved or committed units returned to the shelf. `reason`: ORDER_REJECTED,
    ORDER_CANCELLED, ORDER_RETURNED, EXPIRED (the reservation's deadline passed), RECALLED or
    LOT_EXPIRED (a lot the order held was withdrawn and no other lot could replace it; units of
    the withdrawn lot stay out of sale)."""

    order_id: str
    lines: list[StockLine]
    reason: str


@registry.event("inventory.stock.adjusted", 1, key="SKU")
class StockAdjustedV1(EventPayload):
    sku: str
    delta: int
    on_hand: int
    reserved: int
    available: int
    reason: str


@registry.event("inventory.stock.low", 1, key="SKU")
class StockLowV1(EventPayload):
    """Available stock fell under the SKU's safety stock."""

    sku: str
    available: int
    safety_stock: int


class Origin(BaseModel):
    """Where a lot comes from."""

    model_config = ConfigDict(frozen=True)

    country: str  # ISO 3166-1 alpha-2
    region: str | None = None
    producer: str


@registry.event("inventory.lot.received", 1, key="SKU")
class LotReceivedV1(EventPayload):
    """Units of a lot arrived (subject: the SKU). A lot received again adds units."""

    sku: str
    lot: str
    quantity: int = Field(gt=0)
    origin: Origin | None = None
    production_date: date | None = None
    expiry_date: date | None = None
    storage_class: StorageClass = "AMBIENT"
    inspection_ref: str | None = None
    received_at: datetime


@registry.event("inventory.lot.expiring", 1, key="SKU")
class LotExpiringV1(EventPayload):
    """A sellable lot is within the warning window of its expiry date (published once per lot):
    time to mark it down."""

    sku: str
    lot: str
    expiry_date: date
    days_left: int
    on_hand: int


@registry.event("inventory.lot.expired", 1, key="SKU")
class LotExpiredV1(EventPayload):
    """A lot passed its expiry date in the shop's time zone and was taken out of sale;
    `withdrawn` units were still in the warehouse."""

    sku: str
    lot: str
    expiry_date: date
    withdrawn: int


@registry.event("inventory.lot.recalled", 1, key="SKU")
class LotRecalledV1(EventPayload):
    """An admin recalled a lot: its units in the warehouse are quarantined (`quarantined`),
    orders holding it that have not shipped are re-allocated or cancelled, and the members who
    received it are notified."""

    recall_id: str
    sku: str
    lot: str
    reason: str
    quarantined: int
    recalled_at: datetime


@registry.event("inventory.lot.disposed", 1, key="SKU")
class LotDisposedV1(EventPayload):
    """An admin disposed of units of a lot out of sale (expired or recalled): destroyed or sent
    back to the supplier. They leave the lot's `on_hand` (never its SKU's stock, which they had
    already left); `disposed` is every unit of the lot disposed of so far."""

    sku: str
    lot: str
    quantity: int = Field(gt=0)
    disposed: int
    reason: str
    disposed_at: datetime


@registry.event("inventory.stock.reallocated", 1, key="order id")
class StockReallocatedV1(EventPayload):
    """Units an order held in a withdrawn lot now come from other lots (first expired, first
    out). `allocations` replace the order's allocations of `from_lot` for `sku`; they carry new
    trace codes when the order's stock was already committed. `reason`: RECALLED, LOT_EXPIRED."""

    order_id: str
    sku: str
    from_lot: str
    quantity: int = Field(gt=0)
    allocations: list[LotAllocation]
    reason: WithdrawalReason


@registry.event("inventory.stock.withdrawn", 1, key="order id")
class StockWithdrawnV1(EventPayload):
    """Units an order held in a withdrawn lot could not be replaced from another lot: the
    order's reservation is released (an `inventory.stock.released` with the same reason comes
    with it) and the order must be cancelled with `reason` (RECALLED, LOT_EXPIRED)."""

    order_id: str
    sku: str
    lot: str
    quantity: int = Field(gt=0)
    reason: WithdrawalReason


@registry.event("inventory.recall.customer_affected", 1, key="order id")
class RecallCustomerAffectedV1(EventPayload):
    """A member received units of a recalled lot (the order shipped before the recall): they
    must be told, once per recall and order. Any return of these units is accepted whatever the
    return window."""

    recall_id: str
    order_id: str
    member_id: str
    sku: str
    product_name: str
    lot: str
    quantity: int = Field(gt=0)
    trace_codes: list[str]
    reason: str
    recalled_at: datetime
