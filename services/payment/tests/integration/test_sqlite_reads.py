"""Payment's reads on SQLite (the `make run` default), which hands timestamps back without
their zone: the API still answers them in UTC."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from chassis.auth import ADMIN, Principal
from chassis.testing.harness import offline_runtime
from payment_service.config import MIGRATIONS_DIR, PaymentSettings
from payment_service.deps import PaymentRuntime
from payment_service.service import reads
from payment_service.tables import LedgerEntryRow, PaymentIntentRow

pytestmark = pytest.mark.integration

AT = datetime(2026, 12, 7, 10, 30, tzinfo=UTC)


@pytest.fixture
async def runtime(tmp_path: Path) -> AsyncIterator[PaymentRuntime]:
    settings = PaymentSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 'payment.db'}")
    async with offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime:
        yield runtime


async def test_a_payment_read_on_sqlite_answers_its_times_in_utc(runtime: PaymentRuntime) -> None:
    intent_id, order_id = str(uuid.uuid4()), str(uuid.uuid4())
    async with runtime.database.transaction() as session:
        session.add(
            PaymentIntentRow(
                id=intent_id,
                order_id=order_id,
                member_id="member-1",
                currency="CNY",
                amount=1000,
                status="AUTHORIZED",
                created_at=AT,
                updated_at=AT,
            )
        )
        await session.flush()
        session.add(
            LedgerEntryRow(
                entry_id=str(uuid.uuid4()),
                intent_id=intent_id,
                kind="AUTHORIZE",
                amount=1000,
                currency="CNY",
                at=AT,
            )
        )

    payment = await reads.get_payment(
        runtime, order_id, viewer=Principal("admin-1", frozenset({ADMIN}))
    )
    ledger = await reads.get_ledger(runtime, order_id)
    times = [payment.created_at, payment.updated_at, payment.ledger[0].at, ledger.entries[0].at]
    assert times == [AT] * 4
    assert all(t.utcoffset() is not None for t in times)
    assert payment.model_dump(mode="json")["created_at"] == "2026-12-07T10:30:00Z"
