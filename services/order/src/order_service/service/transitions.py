"""Moving an order from one state to the next, and publishing what that means."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.outbox import Outbox
from order_service import domain
from order_service.tables import OrderRow, TimelineRow
from shared_events import Envelope, EventPayload
from shared_events import order as events
from shared_events.money import Money

Stage = Callable[[EventPayload], Envelope]
S = domain.OrderStatus


def now() -> datetime:
    return datetime.now(UTC)


def money(amount: int, currency: str) -> Money:
    return Money(amount=amount, currency=currency)


def record(
    session: AsyncSession, order: OrderRow, event_type: str, event_id: str | None = None
) -> None:
    """Append to the order's timeline (the events it went through, oldest first)."""
    session.add(
        TimelineRow(
            order_id=order.id,
            event_type=event_type,
            status=order.status,
            reason=order.reason,
            event_id=event_id,
            at=now(),
        )
    )


async def locked(session: AsyncSession, order_id: str) -> OrderRow | None:
    query = select(OrderRow).where(OrderRow.id == order_id).with_for_update()
    return (await session.exec(query)).first()


def from_request(outbox: Outbox, session: AsyncSession, order: OrderRow) -> Stage:
    return lambda payload: outbox.stage(session, payload, subject=order.id, correlation_id=order.id)


def _event_for(order: OrderRow, state: domain.State, was_confirmed: bool) -> EventPayload | None:
    status, step = state
    ids = {"order_id": order.id, "member_id": order.member_id}
    reason = order.reason or ""
    if status is S.PENDING:
        if step is not domain.SagaStep.AWAITING_PAYMENT:
            return None  # still waiting for the other half (stock or benefits)
        token, order.payment_token = order.payment_token or "", None
        return events.PaymentRequestedV1(
            **ids, amount=money(order.total, order.currency), payment_token=token
        )
    return {
        S.CONFIRMED: lambda: events.OrderConfirmedV1(
            **ids, total=money(order.total, order.currency)
        ),
        S.REJECTED: lambda: events.OrderRejectedV1(**ids, reason=reason),
        S.CANCELLED: lambda: events.OrderCancelledV1(
            **ids, reason=reason, was_confirmed=was_confirmed
        ),
        S.SHIPPED: lambda: events.OrderShippedV1(**ids),
        S.DELIVERED: lambda: events.OrderDeliveredV1(**ids),
        S.COMPLETED: lambda: events.OrderCompletedV1(
            **ids, total=money(order.total, order.currency)
        ),
        S.REFUNDED: lambda: events.OrderReturnedV1(
            **ids, reason=reason, total=money(order.total, order.currency)
        ),
    }[status]()


def move(
    stage: Stage,
    session: AsyncSession,
    order: OrderRow,
    state: domain.State,
    reason: domain.Reason | None = None,
) -> None:
    """Enter `state`; publish and record the event it means, if any."""
    was_confirmed = order.status == S.CONFIRMED.value
    order.status, order.saga_step = state[0].value, state[1].value
    if reason is not None:
        order.reason = reason.value
    order.updated_at = now()
    if state[1] is domain.SagaStep.DONE:
        order.deadline_at = None
    payload = _event_for(order, state, was_confirmed)
    session.add(order)
    if payload is not None:
        record(session, order, payload.event_type, str(stage(payload).id))
