"""The saga's reactions to inventory, membership and payment answers, in the transaction the
chassis opened for the event."""

from __future__ import annotations

from chassis.consumer import Delivery
from order_service.deps import OrderRuntime
from order_service.domain.saga import OrderStatus, Reason, SagaStep, Trigger, next_state
from order_service.service.order_state import (
    add_to_timeline,
    locked,
    move,
    note_on_timeline,
    timeline_entry,
)


async def advance(
    delivery: Delivery[OrderRuntime],
    order_id: str,
    trigger: Trigger,
    reason: Reason | None = None,
) -> None:
    """Move the order on by `trigger`; a late or repeated answer only goes on its timeline."""
    session = delivery.session
    order = await locked(session, order_id)
    if order is None:
        return  # not one of ours
    cause = timeline_entry(order, delivery.envelope.type, str(delivery.envelope.id))
    state = next_state(OrderStatus(order.status), SagaStep(order.saga_step), trigger)
    if state is None:
        add_to_timeline(session, cause)  # the state stays
        return
    await move(
        lambda payload: delivery.stage(payload, subject=order_id),
        session,
        order,
        state,
        reason,
        cause=cause,
    )


async def extend_timeline(delivery: Delivery[OrderRuntime], order_id: str) -> bool:
    """Captures, commits, releases and restorations change no state: they only go on the
    timeline (with the order row locked). False when the order is not one of ours."""
    envelope = delivery.envelope
    return await note_on_timeline(delivery.session, order_id, envelope.type, str(envelope.id))
