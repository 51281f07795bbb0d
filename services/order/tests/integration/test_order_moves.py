"""An order's state move takes the row only in the state it was read in, on PostgreSQL and on
SQLite (the `make run` default, which has no row locks): a state another transaction committed
after the read is never overwritten."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from chassis.testing.harness import offline_runtime
from order_service.config import MIGRATIONS_DIR, OrderSettings
from order_service.domain.saga import OrderStatus, Reason, SagaStep, cancellation
from order_service.service.order_state import OrderChanged, locked, move
from order_service.tables import ORDERS
from shared_events import Envelope, EventPayload

from .conftest import order_row

pytestmark = pytest.mark.integration


def _no_stage(payload: EventPayload) -> Envelope:
    raise AssertionError(f"nothing is published for a refused move: {payload!r}")


async def test_a_cancel_read_before_a_confirm_committed_does_not_overwrite_it(
    database_url: str,
) -> None:
    settings = OrderSettings(database_url=database_url)
    async with offline_runtime(settings, None, migrations=MIGRATIONS_DIR) as runtime:
        database = runtime.database
        pending = order_row(OrderStatus.PENDING.value, SagaStep.AWAITING_PAYMENT.value)
        async with database.transaction() as session:
            await (await session.connection()).execute(sa.insert(ORDERS), pending)
        async with database.transaction() as session:  # the customer's cancel reads the order
            stale = await locked(session, "o-1")
        assert stale is not None
        async with database.transaction() as session:  # the payment's confirm commits first
            await (await session.connection()).execute(
                sa.update(ORDERS).values(
                    status=OrderStatus.CONFIRMED.value, saga_step=SagaStep.DONE.value
                )
            )
        state = cancellation(OrderStatus(stale.status), SagaStep(stale.saga_step))
        with pytest.raises(OrderChanged) as refused:
            async with database.transaction() as session:
                await move(_no_stage, session, stale, state, Reason.CANCELLED_BY_CUSTOMER)
        assert (refused.value.status, refused.value.code) == (409, "concurrent-change")
        assert (stale.status, stale.saga_step) == (pending["status"], pending["saga_step"])
        async with database.sessions() as session:
            row = (
                await (await session.connection()).execute(
                    sa.select(ORDERS.c.status, ORDERS.c.saga_step, ORDERS.c.reason)
                )
            ).one()
        assert tuple(row) == (OrderStatus.CONFIRMED.value, SagaStep.DONE.value, None)
