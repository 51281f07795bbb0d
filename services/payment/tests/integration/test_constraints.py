"""The money invariants hold in PostgreSQL itself, whatever the code does."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.exc import IntegrityError
from sqlmodel import col, select

from chassis.db import Database
from chassis.migrations import upgrade, upgrade_async
from chassis.testing.infra import DatabaseFactory
from payment_service.config import MIGRATIONS_DIR
from payment_service.tables import FxRateRow, LedgerEntryRow, PaymentIntentRow

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def database(create_database: DatabaseFactory) -> AsyncIterator[Database]:
    url = await create_database("payment_constraints")
    await upgrade_async(MIGRATIONS_DIR, url)  # the real migration, not create_all
    db = Database(url)
    yield db
    await db.dispose()


def intent(**overrides: Any) -> PaymentIntentRow:
    now = datetime.now(UTC)
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "order_id": f"o-{uuid.uuid4()}",
        "member_id": "m-1",
        "currency": "CNY",
        "amount": 10_000,
        "captured_amount": 10_000,
        "refunded_amount": 0,
        "status": "CAPTURED",
        "created_at": now,
        "updated_at": now,
    }
    return PaymentIntentRow(**{**values, **overrides})


def entry(intent_id: str, kind: str, amount: int = 10_000) -> LedgerEntryRow:
    return LedgerEntryRow(
        entry_id=str(uuid.uuid4()),
        intent_id=intent_id,
        kind=kind,
        amount=amount,
        currency="CNY",
        provider_reference=f"ref-{uuid.uuid4().hex[:8]}",
        at=datetime.now(UTC),
    )


async def add(database: Database, *rows: Any) -> None:
    async with database.transaction() as session:
        for row in rows:
            session.add(row)
            await session.flush()


@pytest.mark.parametrize("kind", ["CAPTURE", "VOID", "AUTHORIZE"])
async def test_a_second_capture_or_void_row_is_refused(database: Database, kind: str) -> None:
    row = intent()
    await add(database, row, entry(row.id, kind))
    with pytest.raises(IntegrityError, match=f"ux_payment_ledger_one_{kind.lower()}"):
        await add(database, entry(row.id, kind))


async def test_refunds_may_repeat_and_other_intents_may_capture(database: Database) -> None:
    first, second = intent(), intent()
    await add(database, first, second, entry(first.id, "CAPTURE"), entry(second.id, "CAPTURE"))
    await add(database, entry(first.id, "REFUND", 4_000), entry(first.id, "REFUND", 6_000))


def set_refunded_above_captured(row: PaymentIntentRow) -> None:
    row.refunded_amount = row.captured_amount + 1


def set_captured_above_amount(row: PaymentIntentRow) -> None:
    row.captured_amount = row.amount + 1


def set_negative_amount(row: PaymentIntentRow) -> None:
    row.amount, row.captured_amount = -1, 0


def set_unknown_status(row: PaymentIntentRow) -> None:
    row.status = "SETTLED"


def set_negative_amount_cny(row: PaymentIntentRow) -> None:
    row.amount_cny = -1


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        (set_refunded_above_captured, "ck_payment_intents_refunded_within_captured"),
        (set_captured_above_amount, "ck_payment_intents_captured_within_amount"),
        (set_negative_amount, "ck_payment_intents_amount_not_negative"),
        (set_unknown_status, "ck_payment_intents_status"),
        (set_negative_amount_cny, "ck_payment_intents_amount_cny_not_negative"),
    ],
)
async def test_amounts_outside_the_invariants_are_refused(
    database: Database, change: Callable[[PaymentIntentRow], None], constraint: str
) -> None:
    row = intent()
    await add(database, row)
    with pytest.raises(IntegrityError, match=constraint):
        async with database.transaction() as session:
            stored = await session.get(PaymentIntentRow, row.id)
            assert stored is not None
            change(stored)
            session.add(stored)


async def test_a_second_intent_for_an_order_is_refused(database: Database) -> None:
    row = intent()
    await add(database, row)
    with pytest.raises(IntegrityError):
        await add(database, intent(order_id=row.order_id))


async def test_the_first_migration_seeds_fx_rates(database: Database) -> None:
    async with database.sessions() as session:
        rates = {(r.base, r.quote): r.rate_micros for r in (await session.exec(select(FxRateRow)))}
        assert rates == {("USD", "CNY"): 7_100_000, ("EUR", "CNY"): 7_700_000}
        with pytest.raises(IntegrityError):
            await session.exec(
                sa.update(FxRateRow).where(col(FxRateRow.base) == "USD").values(rate_micros=0)
            )


async def test_the_cny_amount_is_filled_in_for_cny_intents_authorised_before_it(
    create_database: DatabaseFactory,
) -> None:
    url = await create_database("payment_amount_cny")
    await asyncio.to_thread(upgrade, MIGRATIONS_DIR, url, "0001")
    rows = {
        "cny": ("CNY", "CAPTURED"),
        "usd": ("USD", "CAPTURED"),
        "failed": ("CNY", "FAILED"),
    }
    now = datetime.now(UTC)
    db = Database(url)
    try:
        async with db.transaction() as session:
            conn = await session.connection()
            for name, (currency, status) in rows.items():
                await conn.execute(
                    sa.text(
                        "INSERT INTO payment_intents (id, order_id, member_id, currency, amount,"
                        " captured_amount, refunded_amount, status, created_at, updated_at)"
                        " VALUES (:id, :id, 'm-1', :currency, 10000, :captured, 0, :status,"
                        " :now, :now)"
                    ),
                    {
                        "id": name,
                        "currency": currency,
                        "captured": 0 if status == "FAILED" else 10_000,
                        "status": status,
                        "now": now,
                    },
                )
        await upgrade_async(MIGRATIONS_DIR, url)
        async with db.sessions() as session:
            found = {r.id: r.amount_cny for r in await session.exec(select(PaymentIntentRow))}
        # A CNY amount is its own CNY value; the rate a USD intent used was never recorded.
        assert found == {"cny": 10_000, "usd": None, "failed": None}
    finally:
        await db.dispose()
