"""Money as every event carries it: integer minor units and an ISO 4217 code."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Money(BaseModel):
    """An amount in integer minor units (fen, cents) and an ISO 4217 currency."""

    model_config = ConfigDict(frozen=True)

    amount: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
