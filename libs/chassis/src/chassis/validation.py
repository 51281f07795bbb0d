"""Request types every service's bodies and route parameters are built from.

Whatever a client sends ends up in PostgreSQL, log lines, emails, events and other people's
screens, so text is refused (422) when it holds:

- control characters: C0 (NUL included: PostgreSQL refuses it in `text` and `jsonb`, which was a
  500), DEL and C1; only `MultilineText` allows newline and tab;
- bidirectional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which make a
  name or an address read differently from what it is ("Trojan Source" spoofing);
- lone surrogates, which are no UTF-8 at all: pydantic cannot match a pattern against them and
  answers `string_unicode`, so every type with a pattern refuses them.

The rules are JSON Schema `pattern`s, so the OpenAPI documents exactly what is accepted and a
schema-driven fuzzer generates both sides of them. Integers in bodies are `StrictInt` (`"2"`,
`true` and `2.0` are refused) with bounds that fit the database columns.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from fastapi import Path
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StrictInt

_C0_DEL_C1 = r"\x00-\x1f\x7f-\x9f"
_C0_DEL_C1_BUT_TAB_NEWLINE = r"\x00-\x08\x0b-\x1f\x7f-\x9f"
_BIDI_CONTROLS = r"\u202a-\u202e\u2066-\u2069"

TEXT_PATTERN = f"^[^{_C0_DEL_C1}{_BIDI_CONTROLS}]*$"
MULTILINE_TEXT_PATTERN = f"^[^{_C0_DEL_C1_BUT_TAB_NEWLINE}{_BIDI_CONTROLS}]*$"
# Ids the services mint are UUIDs; the rule is looser so that any id a client holds is a plain
# 404 when unknown, while anything that could not be an id is a 422 before it reaches a query.
IDENTIFIER_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,99}$"
# A SKU code is a URL path segment and a log field: the catalog's rule, shared by every service.
SKU_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"
# A phone number in E.164 (`+8613812345678`): what an SMS provider takes, no spaces or dashes.
PHONE_PATTERN = r"^\+[1-9][0-9]{6,14}$"

# One line of printable text: names, addresses, emails, codes, reasons, query words.
Text = Annotated[str, Field(pattern=TEXT_PATTERN)]
# Printable text that may span lines: long descriptions only.
MultilineText = Annotated[str, Field(pattern=MULTILINE_TEXT_PATTERN)]
# An id in a path or a query (product, order, member, webhook).
Identifier = Annotated[str, Field(pattern=IDENTIFIER_PATTERN)]
SkuCode = Annotated[str, Field(pattern=SKU_PATTERN)]
# The same two as URL path segments (`/orders/{order_id}`, `/inventory/{sku}`).
IdentifierInPath = Annotated[Identifier, Path()]
SkuInPath = Annotated[SkuCode, Path()]
# A member's mobile number, E.164. Personal data: logs redact it (chassis.logging).
Phone = Annotated[str, Field(pattern=PHONE_PATTERN, max_length=16, examples=["+8613812345678"])]
# Calendar days and instants a client sends (production, expiry, inspection): bounded, so that
# no year 1 or 9999 reaches a column or a time-zone conversion that overflows.
Day = Annotated[date, Field(ge=date(2000, 1, 1), le=date(2199, 12, 31))]
Moment = Annotated[
    AwareDatetime,
    Field(ge=datetime(2000, 1, 1, tzinfo=UTC), le=datetime(2199, 12, 31, tzinfo=UTC)),
]
# The currencies the suite prices and charges in (catalog prices, order totals).
Currency = Literal["CNY", "USD", "EUR"]
# Money is integer minor units (fen, cents); the bound fits a bigint with room for sums.
MAX_MONEY_AMOUNT = 10**12


class RequestModel(BaseModel):
    """Base of every request body: unknown fields are a 422 (a client cannot set `role` or
    `status` by adding it), surrounding spaces are trimmed before the rules apply."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class MoneyIn(RequestModel):
    """An amount a client sends: `{"amount": <integer minor units>, "currency": "CNY"}`."""

    amount: StrictInt = Field(
        ge=0, le=MAX_MONEY_AMOUNT, description="integer minor units (fen, cents)"
    )
    currency: Currency


class MoneyPublic(BaseModel):
    """An amount a service answers with, the shape of the events' money."""

    amount: int  # integer minor units
    currency: str
