"""What the inventory API accepts (unknown fields forbidden) and returns."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictInt, field_validator

from chassis.validation import RequestModel, Text

MAX_UNITS = 1_000_000_000  # on_hand is an int4 column

Units = Annotated[StrictInt, Field(ge=0, le=MAX_UNITS)]


class StockSet(RequestModel):
    """`PUT /admin/inventory/{sku}`: the counted on-hand quantity (and the safety stock)."""

    on_hand: Units
    safety_stock: Units | None = None


class AdjustmentCreate(RequestModel):
    """`POST /admin/inventory/{sku}/adjustments`: a correction of on-hand by `delta` units."""

    delta: Annotated[StrictInt, Field(ge=-MAX_UNITS, le=MAX_UNITS)]
    reason: Annotated[Text, Field(min_length=1, max_length=200)]

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
