"""The chassis' retention jobs in a running service (here inventory, which consumes and
publishes): with the check every 0.2 s and sent outbox rows kept 0 hours, an inbox row past
the window goes, a recent one stays, and the outbox empties once its events are on the
broker."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from chassis.inbox import INBOX
from chassis.outbox import OUTBOX
from chassis.testing.polling import eventually
from chassis.testing.tokens import TestTokenIssuer

from .conftest import Inventory, SettingsFactory, inventory_events, running_inventory, sku, types_of
from .lot_support import receive_lot, today

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
async def inventory(
    inventory_settings: SettingsFactory, token_issuer: TestTokenIssuer
) -> AsyncIterator[Inventory]:
    settings = await inventory_settings(retention_check_seconds=0.2, outbox_keep_sent_hours=0)
    async with running_inventory(settings, token_issuer) as running:
        yield running


async def test_the_service_deletes_old_inbox_rows_and_sent_outbox_rows(
    inventory: Inventory, kafka_bootstrap_servers: str
) -> None:
    old, recent = uuid.uuid4(), uuid.uuid4()
    now = datetime.now(UTC)
    rows = [
        {
            "consumer": "inventory-orders",
            "event_id": old,
            "event_type": "t",
            "processed_at": now - timedelta(days=32),
        },
        {
            "consumer": "inventory-orders",
            "event_id": recent,
            "event_type": "t",
            "processed_at": now - timedelta(days=1),
        },
    ]
    async with inventory.database.transaction() as session:
        await session.exec(sa.insert(INBOX), params=rows)  # type: ignore[call-overload]
    code = sku("tea")
    await receive_lot(inventory, code, "R1", 5, today(inventory) + timedelta(days=30))

    async def left() -> tuple[set[uuid.UUID], int]:
        async with inventory.database.sessions() as session:
            conn = await session.connection()
            inbox = set(
                (
                    await conn.execute(
                        sa.select(INBOX.c.event_id).where(INBOX.c.event_id.in_([old, recent]))
                    )
                ).scalars()
            )
            of_the_sku = sa.select(sa.func.count()).where(OUTBOX.c.subject == code)
            outbox = (await conn.execute(of_the_sku)).scalar_one()
        return inbox, int(outbox)

    assert await eventually(left, lambda found: found == ({recent}, 0), timeout=10) == ({recent}, 0)
    published = await inventory_events(
        kafka_bootstrap_servers, code, until=lambda e: "inventory.lot.received" in types_of(e)
    )
    assert "inventory.lot.received" in types_of(published)  # sent before its row went
