"""An event that changes no state joins the order's timeline by one statement, on PostgreSQL and
on SQLite (the `make run` default): the entry carries the order's status and reason as they
are, and an order the service does not know gets none."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from chassis.testing.harness import offline_runtime
from chassis.testing.statements import statements_sent
from order_service.config import MIGRATIONS_DIR, OrderSettings
from order_service.service.order_state import note_on_timeline
from order_service.tables import ORDERS, TIMELINE

from .conftest import order_row

pytestmark = pytest.mark.integration


async def test_an_event_joins_the_timeline_with_the_orders_status(database_url: str) -> None:
    order = order_row("CANCELLED", "DONE", "CUSTOMER_CANCELLED")
    settings = OrderSettings(database_url=database_url)
    async with offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime:
        async with runtime.database.transaction() as session:
            await (await session.connection()).execute(sa.insert(ORDERS), order)
        with statements_sent(runtime.database.engine) as sent:
            async with runtime.database.transaction() as session:
                noted = await note_on_timeline(session, "o-1", "payment.payment.voided", "e-1")
                unknown = await note_on_timeline(session, "o-2", "payment.payment.voided", "e-2")
        async with runtime.database.sessions() as session:
            rows = (await (await session.connection()).execute(sa.select(TIMELINE))).all()
    assert (noted, unknown) == (True, False)
    assert [(r.order_id, r.event_type, r.status, r.reason, r.event_id) for r in rows] == [
        ("o-1", "payment.payment.voided", "CANCELLED", "CUSTOMER_CANCELLED", "e-1")
    ]
    # One statement per event, the order's row not read first.
    assert [s.split(" (")[0] for s in sent] == ["INSERT INTO order_timeline"] * 2, sent
