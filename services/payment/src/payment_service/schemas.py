"""What the payment API returns. It accepts no bodies (payments are driven by order events)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from chassis.validation import MoneyPublic
from payment_service.domain.intents import IntentStatus, LedgerKind


class LedgerEntryPublic(BaseModel):
    id: str  # for a REFUND, the refund id published in `payment.payment.refunded`
    kind: LedgerKind
    amount: MoneyPublic
    at: datetime


class LedgerEntryAdmin(LedgerEntryPublic):
    provider_reference: str | None


class PaymentPublic(BaseModel):
    """A payment as its owner (or an admin) sees it."""

    id: str
    order_id: str
    member_id: str
    status: IntentStatus
    currency: str
    amount: MoneyPublic  # authorised (or asked for, when the payment failed)
    captured: MoneyPublic
    refunded: MoneyPublic
    reason: str | None  # FailureReason when FAILED
    card: str | None  # the masked token, e.g. "tok_…isa"
    created_at: datetime
    updated_at: datetime
    ledger: list[LedgerEntryPublic]


class LedgerPublic(BaseModel):
    """The admin view of one payment's money movements, with the totals per kind."""

    payment_id: str
    order_id: str
    status: IntentStatus
    currency: str
    reason: str | None
    message: str | None
    totals: dict[LedgerKind, int]
    entries: list[LedgerEntryAdmin]
