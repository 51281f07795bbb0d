"""An order's state on the saga's hot path: its row locked and read as columns, moved to the
next state with one UPDATE, and the event and timeline entries that move means."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields, replace
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import rows_before_commit
from chassis.errors import ConcurrentChange
from chassis.outbox import Outbox
from order_service.domain.saga import OrderStatus, Reason, SagaStep, State
from order_service.tables import ORDERS, TIMELINE
from shared_events import Envelope, EventPayload
from shared_events import order as events
from shared_events.money import Money

# Stages an event of the order in the current transaction.
Stage = Callable[[EventPayload], Envelope]


class OrderChanged(ConcurrentChange):
    """The order changed between its read and its move (SQLite only: PostgreSQL locks it)."""

    def __init__(self, order_id: str) -> None:
        super().__init__(f"order {order_id} changed meanwhile; try again")


def now() -> datetime:
    return datetime.now(UTC)


def money(amount: int, currency: str) -> Money:
    return Money(amount=amount, currency=currency)


@dataclass
class LockedOrder:
    """The columns a state change reads and writes, of an order row locked FOR UPDATE: read
    as columns and written back with one UPDATE, no ORM object (the saga's hot path)."""

    id: str
    member_id: str
    status: str
    saga_step: str
    reason: str | None
    currency: str
    total: int
    payment_token: str | None


_LOCKED_COLUMNS = [ORDERS.c[f.name] for f in fields(LockedOrder)]
# Prebuilt: read on every saga step (no statement built and keyed per call).
_LOCKED = (
    sa.select(*_LOCKED_COLUMNS).where(ORDERS.c.id == sa.bindparam("order_id")).with_for_update()
)


async def locked(session: AsyncSession, order_id: str) -> LockedOrder | None:
    connection = await session.connection()
    row = (await connection.execute(_LOCKED, {"order_id": order_id})).first()
    return LockedOrder(*row) if row is not None else None


async def overdue(session: AsyncSession, limit: int) -> list[LockedOrder]:
    """PENDING orders past their deadline, oldest first, locked (others' locks skipped)."""
    connection = await session.connection()
    rows = await connection.execute(
        sa.select(*_LOCKED_COLUMNS)
        .where(ORDERS.c.status == OrderStatus.PENDING.value)
        .where(ORDERS.c.deadline_at < now())
        .order_by(ORDERS.c.deadline_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return [LockedOrder(*row) for row in rows]


def timeline_entry(
    order: LockedOrder, event_type: str, event_id: str | None = None
) -> dict[str, object]:
    """A timeline row (the events an order went through, oldest first) for `event_type`, with
    the order's status and reason as they are now."""
    return {
        "order_id": order.id,
        "event_type": event_type,
        "status": order.status,
        "reason": order.reason,
        "event_id": event_id,
        "at": now(),
    }


_ADD_TO_TIMELINE = sa.insert(TIMELINE)
# An event that changes no state goes on the timeline with the order's status and reason read
# (the row locked) by the same statement: one round trip, no row read back.
_NOTE_ON_TIMELINE = sa.insert(TIMELINE).from_select(
    ["order_id", "event_type", "status", "reason", "event_id", "at"],
    sa.select(
        ORDERS.c.id,
        sa.bindparam("event_type", type_=TIMELINE.c.event_type.type),
        ORDERS.c.status,
        ORDERS.c.reason,
        sa.bindparam("event_id", type_=TIMELINE.c.event_id.type),
        sa.bindparam("at", type_=TIMELINE.c.at.type),
    )
    .where(ORDERS.c.id == sa.bindparam("order_id"))
    .with_for_update(),
)


def add_to_timeline(session: AsyncSession, *entries: dict[str, object]) -> None:
    """The entries go in with the transaction's commit, with those of every other event of
    the poll: one INSERT per poll, in the order they were added (the timeline's order)."""
    rows = rows_before_commit(session, _ADD_TO_TIMELINE)
    for entry in entries:
        rows[len(rows)] = entry


async def note_on_timeline(
    session: AsyncSession, order_id: str, event_type: str, event_id: str
) -> bool:
    """The event on the order's timeline, with the order's status and reason as they are now
    (its `at` orders it among the poll's other entries). False when there is no such order."""
    connection = await session.connection()
    noted = await connection.execute(
        _NOTE_ON_TIMELINE,
        {"order_id": order_id, "event_type": event_type, "event_id": event_id, "at": now()},
    )
    return bool(noted.rowcount)


def stage_for_request(outbox: Outbox, session: AsyncSession, order: LockedOrder) -> Stage:
    """Stages in `session` with the order as subject and correlation id: the change began with
    a request or a job, not with another event."""
    return lambda payload: outbox.stage(session, payload, subject=order.id, correlation_id=order.id)


def _event_for(order: LockedOrder, state: State, was_confirmed: bool) -> EventPayload | None:
    status, step = state
    ids = {"order_id": order.id, "member_id": order.member_id}
    reason = order.reason or ""
    if status is OrderStatus.PENDING:
        if step is not SagaStep.AWAITING_PAYMENT:
            return None  # still waiting for the other half (stock or benefits)
        token, order.payment_token = order.payment_token or "", None
        return events.PaymentRequestedV1(
            **ids, amount=money(order.total, order.currency), payment_token=token
        )
    build: dict[OrderStatus, Callable[[], EventPayload]] = {
        OrderStatus.CONFIRMED: lambda: events.OrderConfirmedV1(
            **ids, total=money(order.total, order.currency)
        ),
        OrderStatus.REJECTED: lambda: events.OrderRejectedV1(**ids, reason=reason),
        OrderStatus.CANCELLED: lambda: events.OrderCancelledV1(
            **ids, reason=reason, was_confirmed=was_confirmed
        ),
        OrderStatus.SHIPPED: lambda: events.OrderShippedV1(**ids),
        OrderStatus.DELIVERED: lambda: events.OrderDeliveredV1(**ids),
        OrderStatus.COMPLETED: lambda: events.OrderCompletedV1(
            **ids, total=money(order.total, order.currency)
        ),
        OrderStatus.REFUNDED: lambda: events.OrderReturnedV1(
            **ids, reason=reason, total=money(order.total, order.currency)
        ),
    }
    return build[status]()


async def move(
    stage: Stage,
    session: AsyncSession,
    order: LockedOrder,
    state: State,
    reason: Reason | None = None,
    *,
    cause: dict[str, object] | None = None,
) -> None:
    """Enter `state` with one UPDATE; publish and record the event it means, if any. `cause`
    (a `timeline_entry` of the event that led here) goes on the timeline first, in the same
    INSERT. The UPDATE takes the row only in the state it was read in: on PostgreSQL the read
    locked it, so it always is; SQLite has no row locks (its transaction starts at the first
    write), and a state another transaction committed in between is never overwritten
    (`ConcurrentChange`: a request gets 409, a consumer's batch is tried again)."""
    was_confirmed = order.status == OrderStatus.CONFIRMED.value
    read_in = (ORDERS.c.status == order.status, ORDERS.c.saga_step == order.saga_step)
    as_read = replace(order)  # given back to `order` if the move is refused
    entries = [cause] if cause is not None else []
    order.status, order.saga_step = state[0].value, state[1].value
    if reason is not None:
        order.reason = reason.value
    changes: dict[str, object] = {
        "status": order.status,
        "saga_step": order.saga_step,
        "reason": order.reason,
        "updated_at": now(),
    }
    if state[1] is SagaStep.DONE:
        changes["deadline_at"] = None
    token = order.payment_token
    payload = _event_for(order, state, was_confirmed)
    if order.payment_token != token:
        changes["payment_token"] = order.payment_token  # cleared once payment is requested
    connection = await session.connection()
    moved = await connection.execute(
        sa.update(ORDERS).where(ORDERS.c.id == order.id, *read_in).values(changes)
    )
    if moved.rowcount == 0:
        for column in fields(order):
            setattr(order, column.name, getattr(as_read, column.name))
        raise OrderChanged(order.id)
    if payload is not None:
        entries.append(timeline_entry(order, payload.event_type, str(stage(payload).id)))
    if entries:
        add_to_timeline(session, *entries)
