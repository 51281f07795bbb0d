"""The reads, locks and writes of intent, ledger and rate rows that the payment steps run
inside their event's transaction.

The statements are SQLAlchemy Core, built once at import with bind parameters and executed on
the handler's connection (`await session.connection()`): no ORM object is loaded or added per
event, and no statement is built per event (building one costs about as much CPU as executing
it).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.columns import table_of
from chassis.db import insert_ignore
from chassis.locks import lock_name
from chassis.row_updates import update_by_key, update_params
from chassis.rules import RuleError
from payment_service.domain.intents import (
    ENDED_BEFORE_REQUEST,
    FailureReason,
    Intent,
    IntentStatus,
    LedgerKind,
)
from payment_service.tables import FxRateRow, LedgerEntryRow, PaymentIntentRow

INTENTS = table_of(PaymentIntentRow)
LEDGER = table_of(LedgerEntryRow)
RATES = table_of(FxRateRow)


def _reference_of(kind: LedgerKind) -> sa.ScalarSelect[Any]:
    """The provider reference of the intent's ledger row of `kind` (at most one per intent)."""
    return (
        sa.select(LEDGER.c.provider_reference)
        .where(LEDGER.c.intent_id == INTENTS.c.id, LEDGER.c.kind == kind.value)
        .scalar_subquery()
    )


# The order's intent and the references its next step needs, in one statement; the row lock
# serialises the handlers of one payment.
_LOCK_INTENT = (
    sa.select(
        INTENTS.c.id,
        INTENTS.c.order_id,
        INTENTS.c.currency,
        INTENTS.c.status,
        INTENTS.c.amount,
        INTENTS.c.captured_amount,
        INTENTS.c.refunded_amount,
        INTENTS.c.amount_cny,
        _reference_of(LedgerKind.AUTHORIZE),
        _reference_of(LedgerKind.CAPTURE),
    )
    .where(INTENTS.c.order_id == sa.bindparam("order_id"))
    .with_for_update(of=INTENTS)
)
_STATE = ("status", "captured_amount", "refunded_amount", "updated_at")
_SAVE_STATE = update_by_key(INTENTS, "id", *_STATE)
_SAVE_FAILURE = update_by_key(INTENTS, "id", *_STATE, "failure_reason", "failure_message")
# The authorisation records the CNY amount in the same UPDATE as its state: no extra statement.
_SAVE_AUTHORIZED = update_by_key(INTENTS, "id", *_STATE, "amount_cny")
_ADD_ENTRY = sa.insert(LEDGER)
_REFERENCE = sa.select(LEDGER.c.provider_reference).where(
    LEDGER.c.intent_id == sa.bindparam("intent_id"), LEDGER.c.kind == sa.bindparam("kind")
)
_RATES = sa.select(RATES.c.base, RATES.c.quote, RATES.c.rate_micros)
_RECENT = (
    sa.select(sa.func.count())
    .select_from(INTENTS)
    .where(
        INTENTS.c.member_id == sa.bindparam("member_id"),
        INTENTS.c.created_at >= sa.bindparam("since"),
        INTENTS.c.id != sa.bindparam("besides"),
        sa.or_(
            INTENTS.c.failure_reason.is_(None),
            # Only attempts the provider answered count: not risk rejections, not orders
            # that ended first, not PAYMENT_FAILED (provider unavailable or timed out, or a
            # currency without a rate), so retrying through an outage is not "velocity".
            INTENTS.c.failure_reason.not_in(
                [
                    FailureReason.RISK_REJECTED.value,
                    FailureReason.PAYMENT_FAILED.value,
                    ENDED_BEFORE_REQUEST,
                ]
            ),
        ),
    )
)


@dataclass(frozen=True, slots=True)
class LockedIntent:
    """The columns of an intent the use cases act on, read under its row lock, with the
    provider references of its AUTHORIZE and CAPTURE ledger rows as read with it.
    `amount_cny`: the authorised amount in CNY (None before the authorisation, or when it
    predates the column)."""

    id: str
    order_id: str
    currency: str
    state: Intent
    amount_cny: int | None = None
    authorization: str | None = None
    capture: str | None = None


async def lock_intent(conn: AsyncConnection, order_id: str) -> LockedIntent | None:
    row = (await conn.execute(_LOCK_INTENT, {"order_id": order_id})).first()
    if row is None:
        return None
    # The last two: the AUTHORIZE and CAPTURE references (`_reference_of`).
    intent_id, order, currency, status, amount, captured, refunded, amount_cny, *references = tuple(
        row
    )
    state = Intent(IntentStatus(status), amount, captured, refunded)
    return LockedIntent(intent_id, order, currency, state, amount_cny, *references)


async def claim_intent(
    conn: AsyncConnection,
    intent_id: str,
    order_id: str,
    *,
    member_id: str,
    currency: str,
    amount: int,
    status: IntentStatus,
    at: datetime,
    token_hint: str | None = None,
    failure_reason: str | None = None,
) -> bool:
    """Insert the order's intent unless it has one. A concurrent insert of the same order
    waits for the other transaction, then counts as taken."""
    values = {
        "id": intent_id,
        "order_id": order_id,
        "member_id": member_id,
        "currency": currency,
        "amount": amount,
        "captured_amount": 0,
        "refunded_amount": 0,
        "status": status.value,
        "token_hint": token_hint,
        "failure_reason": failure_reason,
        "created_at": at,
        "updated_at": at,
    }
    return await insert_ignore(conn, INTENTS, values) == 1


async def save_state(
    conn: AsyncConnection,
    intent_id: str,
    state: Intent,
    at: datetime,
    *,
    failure: tuple[str, str] | None = None,
    amount_cny: int | None = None,
) -> None:
    """The intent's new state; with the failure when it failed, with the amount in CNY when it
    was authorised."""
    values: dict[str, Any] = {
        "status": state.status.value,
        "captured_amount": state.captured,
        "refunded_amount": state.refunded,
        "updated_at": at,
    }
    statement = _SAVE_STATE
    if failure is not None:
        statement = _SAVE_FAILURE
        values["failure_reason"], values["failure_message"] = failure
    elif amount_cny is not None:
        statement = _SAVE_AUTHORIZED
        values["amount_cny"] = amount_cny
    await conn.execute(statement, update_params(id=intent_id, **values))


async def add_entry(
    conn: AsyncConnection,
    intent: LockedIntent,
    kind: LedgerKind,
    amount: int,
    reference: str,
    at: datetime,
    entry_id: str,
) -> None:
    """One ledger row (append-only)."""
    await conn.execute(
        _ADD_ENTRY,
        {
            "entry_id": entry_id,
            "intent_id": intent.id,
            "kind": kind.value,
            "amount": amount,
            "currency": intent.currency,
            "provider_reference": reference,
            "at": at,
        },
    )


async def load_rates(conn: AsyncConnection) -> dict[tuple[str, str], int]:
    rows = (await conn.execute(_RATES)).all()
    return {(r.base, r.quote): r.rate_micros for r in rows}


async def provider_reference(
    conn: AsyncConnection, intent: LockedIntent, kind: LedgerKind, *, known: str | None = None
) -> str:
    """The reference of the intent's ledger row of `kind`: `known` (read with the lock) when
    it was there, else read again now (it may have committed while the lock was awaited)."""
    if known is not None:
        return known
    params = {"intent_id": intent.id, "kind": kind.value}
    reference = (await conn.execute(_REFERENCE, params)).scalar()
    if reference is None:
        raise RuleError("no-reference", f"payment {intent.id} has no {kind} entry")
    return str(reference)


async def lock_member(conn: AsyncConnection, member_id: str) -> None:
    """Serialise one member's payment requests so the velocity count is exact across
    replicas."""
    await lock_name(conn, member_id)


async def recent_payments(
    conn: AsyncConnection, member_id: str, window_seconds: int, now: datetime, *, besides: str
) -> int:
    """The member's payment attempts in the window that the provider answered (or may still
    answer), the intent `besides` left out: risk rejections, orders cancelled before their
    request and PAYMENT_FAILED (the provider unavailable or timed out, or no rate for the
    currency) do not count. Declines do."""
    params = {
        "member_id": member_id,
        "since": now - timedelta(seconds=window_seconds),
        "besides": besides,
    }
    return int((await conn.execute(_RECENT, params)).scalar_one())
