"""Reads for the API: a payment for its owner or an admin, and the admin ledger."""

from __future__ import annotations

from sqlmodel import col, select

from chassis.auth import Principal
from chassis.db import as_utc
from chassis.errors import NotFound
from chassis.validation import MoneyPublic
from payment_service.deps import PaymentRuntime
from payment_service.domain.intents import ENDED_BEFORE_REQUEST, IntentStatus, LedgerKind
from payment_service.schemas import (
    LedgerEntryAdmin,
    LedgerEntryPublic,
    LedgerPublic,
    PaymentPublic,
)
from payment_service.tables import LedgerEntryRow, PaymentIntentRow


async def _load_with_ledger(
    runtime: PaymentRuntime, order_id: str
) -> tuple[PaymentIntentRow, list[LedgerEntryRow]]:
    async with runtime.database.snapshot() as session:
        query = select(PaymentIntentRow).where(PaymentIntentRow.order_id == order_id)
        row = (await session.exec(query)).first()
        # An order cancelled before it asked for payment keeps a final intent that only stops
        # a late request (`payments.release`): no payment to show.
        if row is None or row.failure_reason == ENDED_BEFORE_REQUEST:
            raise NotFound(f"order {order_id} has no payment")
        entries = (
            await session.exec(
                select(LedgerEntryRow)
                .where(LedgerEntryRow.intent_id == row.id)
                .order_by(col(LedgerEntryRow.id))
            )
        ).all()
    return row, list(entries)


def _entry(entry: LedgerEntryRow) -> dict[str, object]:
    return {
        "id": entry.entry_id,
        "kind": LedgerKind(entry.kind),
        "amount": MoneyPublic(amount=entry.amount, currency=entry.currency),
        "at": as_utc(entry.at),
    }


async def get_payment(
    runtime: PaymentRuntime, order_id: str, *, viewer: Principal
) -> PaymentPublic:
    """The payment of an order, for its owner or an admin; anyone else gets a 404."""
    row, entries = await _load_with_ledger(runtime, order_id)
    if not viewer.is_admin and viewer.subject != row.member_id:
        raise NotFound(f"order {order_id} has no payment")  # not 403: existence is private
    return PaymentPublic(
        id=row.id,
        order_id=row.order_id,
        member_id=row.member_id,
        status=IntentStatus(row.status),
        currency=row.currency,
        amount=MoneyPublic(amount=row.amount, currency=row.currency),
        captured=MoneyPublic(amount=row.captured_amount, currency=row.currency),
        refunded=MoneyPublic(amount=row.refunded_amount, currency=row.currency),
        reason=row.failure_reason,
        card=row.token_hint,
        created_at=as_utc(row.created_at),
        updated_at=as_utc(row.updated_at),
        ledger=[LedgerEntryPublic.model_validate(_entry(e)) for e in entries],
    )


async def get_ledger(runtime: PaymentRuntime, order_id: str) -> LedgerPublic:
    row, entries = await _load_with_ledger(runtime, order_id)
    totals = dict.fromkeys(LedgerKind, 0)
    for entry in entries:
        totals[LedgerKind(entry.kind)] += entry.amount
    return LedgerPublic(
        payment_id=row.id,
        order_id=row.order_id,
        status=IntentStatus(row.status),
        currency=row.currency,
        reason=row.failure_reason,
        message=row.failure_message,
        totals=totals,
        entries=[
            LedgerEntryAdmin.model_validate(
                {**_entry(e), "provider_reference": e.provider_reference}
            )
            for e in entries
        ],
    )
