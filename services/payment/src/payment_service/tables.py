"""Payment tables. Never returned by the API, never published: see schemas.py for those.

The money invariants are database constraints as well as code (`domain.intents.Intent`): amounts are
never negative, a capture never exceeds the authorisation, refunds never exceed the capture,
and the ledger holds at most one AUTHORIZE, one CAPTURE and one VOID row per intent.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from chassis.columns import (
    big_integer,
    check_one_of,
    not_negative,
    partial_index,
    surrogate_key,
    utc_timestamp,
)
from payment_service.domain.intents import IntentStatus, LedgerKind

# At most one row of these kinds per intent (partial unique indexes).
ONCE_PER_INTENT = (LedgerKind.AUTHORIZE.value, LedgerKind.CAPTURE.value, LedgerKind.VOID.value)


def once_per_intent_index(kind: str) -> sa.Index:
    return partial_index(
        f"ux_payment_ledger_one_{kind.lower()}", "intent_id", unique=True, where=f"kind = '{kind}'"
    )


class PaymentIntentRow(SQLModel, table=True):
    """One per order. The card token itself is never stored; `token_hint` is masked."""

    __tablename__ = "payment_intents"
    __table_args__ = (
        *not_negative("payment_intents", "amount"),
        sa.CheckConstraint("captured_amount >= 0", name="ck_payment_intents_captured_not_negative"),
        sa.CheckConstraint("refunded_amount >= 0", name="ck_payment_intents_refunded_not_negative"),
        sa.CheckConstraint(
            "captured_amount <= amount", name="ck_payment_intents_captured_within_amount"
        ),
        sa.CheckConstraint(
            "refunded_amount <= captured_amount",
            name="ck_payment_intents_refunded_within_captured",
        ),
        check_one_of("payment_intents", "status", IntentStatus),
        *not_negative("payment_intents", "amount_cny"),
        sa.Index("ix_payment_intents_member_created", "member_id", "created_at"),
    )

    id: str = Field(primary_key=True, max_length=36)
    order_id: str = Field(sa_column=sa.Column(sa.String(64), nullable=False, unique=True))
    member_id: str = Field(max_length=64)
    currency: str = Field(max_length=3)
    amount: int = big_integer(default=0)
    captured_amount: int = big_integer(default=0)
    refunded_amount: int = big_integer(default=0)
    # `amount` in CNY at the rate of the authorisation, set when it is authorised: the
    # captures, voids and refunds of the intent convert at that rate (NULL for an intent in
    # another currency authorised before it was recorded).
    amount_cny: int | None = big_integer(nullable=True)
    status: str = Field(max_length=20)
    failure_reason: str | None = Field(default=None, max_length=40)
    failure_message: str | None = Field(default=None, max_length=500)
    token_hint: str | None = Field(default=None, max_length=20)
    created_at: datetime = utc_timestamp()
    updated_at: datetime = utc_timestamp()


class LedgerEntryRow(SQLModel, table=True):
    """Every money movement, append-only. `entry_id` is public (a REFUND's refund id)."""

    __tablename__ = "payment_ledger"
    __table_args__ = (
        *not_negative("payment_ledger", "amount"),
        check_one_of("payment_ledger", "kind", LedgerKind),
        *(once_per_intent_index(kind) for kind in ONCE_PER_INTENT),
    )

    id: int | None = surrogate_key()
    entry_id: str = Field(sa_column=sa.Column(sa.String(36), nullable=False, unique=True))
    intent_id: str = Field(foreign_key="payment_intents.id", index=True, max_length=36)
    kind: str = Field(max_length=20)
    amount: int = big_integer(default=0)
    currency: str = Field(max_length=3)
    provider_reference: str | None = Field(default=None, max_length=200)
    at: datetime = utc_timestamp()


class FxRateRow(SQLModel, table=True):
    """How many `quote` one `base` buys, in millionths (7_100_000: 1 USD = 7.10 CNY)."""

    __tablename__ = "fx_rates"
    __table_args__ = (sa.CheckConstraint("rate_micros > 0", name="ck_fx_rates_positive"),)

    base: str = Field(primary_key=True, max_length=3)
    quote: str = Field(primary_key=True, max_length=3)
    rate_micros: int = big_integer()
    updated_at: datetime = utc_timestamp()
