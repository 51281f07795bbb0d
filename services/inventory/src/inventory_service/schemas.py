"""What the inventory API accepts (unknown fields forbidden) and returns."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt, field_validator, model_validator

from chassis.validation import SKU_PATTERN, Day, Moment, RequestModel, Text
from inventory_service.domain.stock import MAX_UNITS
from shared_events.inventory import DEFAULT_LOT, StorageClass

Units = Annotated[StrictInt, Field(ge=0, le=MAX_UNITS)]


class StockSet(RequestModel):
    """`PUT /admin/inventory/{sku}`: the counted on-hand quantity (and the safety stock)."""

    on_hand: Units
    safety_stock: Units | None = None


# A lot code is a URL path segment like a SKU; `DEFAULT` names the implicit lot.
LotCode = Annotated[str, Field(pattern=SKU_PATTERN)]


class AdjustmentCreate(RequestModel):
    """`POST /admin/inventory/{sku}/adjustments`: a correction of on-hand by `delta` units, in
    `lot` (needed when the SKU is stocked by lot; the implicit lot otherwise)."""

    delta: Annotated[StrictInt, Field(ge=-MAX_UNITS, le=MAX_UNITS)]
    reason: Annotated[Text, Field(min_length=1, max_length=200)]
    lot: LotCode | None = None

    @field_validator("delta")
    @classmethod
    def _not_zero(cls, delta: int) -> int:
        if delta == 0:
            raise ValueError("delta must not be zero")
        return delta


class StockPublic(BaseModel):
    """What the storefront sees."""

    sku: str
    available: int


class AvailabilityList(BaseModel):
    items: list[StockPublic]


class StockAdmin(StockPublic):
    """What an admin sees."""

    on_hand: int
    reserved: int
    safety_stock: int
    low: bool
    updated_at: datetime


class OriginIn(RequestModel):
    country: Annotated[str, Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2")]
    region: Annotated[Text, Field(min_length=1, max_length=100)] | None = None
    producer: Annotated[Text, Field(min_length=1, max_length=200)]


class LotReceive(RequestModel):
    """`POST /admin/inventory/{sku}/lots`: units of a lot arrived. Receiving a known lot again
    adds units (its dates, origin and storage class must be the same)."""

    lot: LotCode
    quantity: Annotated[StrictInt, Field(gt=0, le=MAX_UNITS)]
    origin: OriginIn | None = None
    production_date: Day | None = None
    expiry_date: Day | None = None
    storage_class: StorageClass = "AMBIENT"
    inspection_ref: Annotated[Text, Field(min_length=1, max_length=100)] | None = None
    inspected_at: Moment | None = None

    @field_validator("lot")
    @classmethod
    def _not_the_implicit_lot(cls, lot: str) -> str:
        if lot.upper() == DEFAULT_LOT:
            raise ValueError(f"{DEFAULT_LOT} names the implicit lot of stock received without lots")
        return lot

    @model_validator(mode="after")
    def _dates_in_order(self) -> LotReceive:
        if self.production_date and self.expiry_date and self.expiry_date < self.production_date:
            raise ValueError("expiry_date cannot be before production_date")
        return self


class OriginPublic(BaseModel):
    country: str
    region: str | None
    producer: str


class LotAdmin(BaseModel):
    """A lot as an admin sees it. `status`: SELLABLE, EXPIRED or QUARANTINED (recalled)."""

    sku: str
    lot: str
    status: str
    on_hand: int
    reserved: int
    available: int
    received: int
    disposed: int  # ever disposed of (a lot out of sale only)
    origin: OriginPublic | None
    production_date: date | None
    expiry_date: date | None
    storage_class: str
    inspection_ref: str | None
    inspected_at: datetime | None
    received_at: datetime
    withdrawn_at: datetime | None


class LotList(BaseModel):
    items: list[LotAdmin]


class RecallCreate(RequestModel):
    """`POST /admin/inventory/{sku}/lots/{lot}/recall`."""

    reason: Annotated[Text, Field(min_length=1, max_length=500)]


class DisposalCreate(RequestModel):
    """`POST /admin/inventory/{sku}/lots/{lot}/disposals`: units of a lot out of sale destroyed
    or sent back; without `quantity`, every unit no order holds."""

    reason: Annotated[Text, Field(min_length=1, max_length=200)]
    quantity: Annotated[StrictInt, Field(ge=1, le=MAX_UNITS)] | None = None


class RecallUnits(BaseModel):
    received: int  # ever received into the lot
    sold: int  # shipped to customers
    quarantined: int  # in the warehouse, out of sale
    disposed: int  # destroyed or sent back since (POST .../disposals)
    reallocated: int  # orders' units replaced from other lots
    cancelled: int  # orders' units that nothing could replace (those orders are cancelled)
    returned: int  # came back from customers


class RecallOrders(BaseModel):
    reallocated: list[str]
    cancelled: list[str]
    notified: list[str]  # shipped orders whose members get a recall notice


class RecallReport(BaseModel):
    recall_id: str
    sku: str
    lot: str
    reason: str
    recalled_at: datetime
    finished: bool  # every order holding the lot has been settled
    units: RecallUnits
    orders: RecallOrders
    notified_members: int


class CustodyStep(BaseModel):
    """`step`: RECEIVED, INSPECTED, ALLOCATED, SHIPPED, DELIVERED, RECALLED."""

    step: str
    at: datetime
    detail: str | None = None


class TraceProduct(BaseModel):
    sku: str
    name: str | None


class TraceLot(BaseModel):
    code: str
    status: str
    origin: OriginPublic | None
    production_date: date | None
    expiry_date: date | None
    storage_class: str
    inspection_ref: str | None


class TracePublic(BaseModel):
    """`GET /api/v1/trace/{code}`: where these units come from and where they have been.
    Nothing about the buyer."""

    trace_code: str
    quantity: int
    product: TraceProduct
    lot: TraceLot
    custody: list[CustodyStep]
    recalled: bool
