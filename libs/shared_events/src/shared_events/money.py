"""Money as every event carries it: integer minor units and an ISO 4217 code."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from pydantic import BaseModel, ConfigDict, Field

# The currencies the suite prices, charges and reports in, with each one's minor-unit exponent
# (all three have 2 decimals): what every service that reads `Money` converts or formats by.
MINOR_UNITS: Mapping[str, int] = MappingProxyType({"CNY": 2, "USD": 2, "EUR": 2})
CURRENCIES = frozenset(MINOR_UNITS)
# The currency of the events' `amount_cny` (payment's settlement and analytics' reporting).
REPORTING_CURRENCY = "CNY"


class Money(BaseModel):
    """An amount in integer minor units (fen, cents) and an ISO 4217 currency."""

    model_config = ConfigDict(frozen=True)

    amount: int = Field(ge=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
