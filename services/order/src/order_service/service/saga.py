"""The saga's reactions to inventory, membership and payment answers."""

from __future__ import annotations

from chassis.consumer import Delivery
from order_service import domain
from order_service.service.transitions import locked, move, record, timeline_entry
from shared_events import inventory, membership, payment


async def _advance(
    delivery: Delivery,
    order_id: str,
    trigger: domain.Trigger,
    reason: domain.Reason | None = None,
) -> None:
    session = delivery.session
    order = await locked(session, order_id)
    if order is None:
        return  # not one of ours
    cause = timeline_entry(order, delivery.envelope.type, str(delivery.envelope.id))
    state = domain.next_state(
        domain.OrderStatus(order.status), domain.SagaStep(order.saga_step), trigger
    )
    if state is None:
        await record(session, cause)  # a late or repeated answer: the state stays
        return
    await move(
        lambda p: delivery.stage(p, subject=order_id), session, order, state, reason, cause=cause
    )


async def on_stock_reserved(delivery: Delivery, payload: inventory.StockReservedV1) -> None:
    await _advance(delivery, payload.order_id, domain.Trigger.STOCK_RESERVED)


async def on_stock_rejected(delivery: Delivery, payload: inventory.StockRejectedV1) -> None:
    await _advance(
        delivery, payload.order_id, domain.Trigger.STOCK_REJECTED, domain.Reason.OUT_OF_STOCK
    )


async def on_benefits_held(delivery: Delivery, payload: membership.BenefitsHeldV1) -> None:
    await _advance(delivery, payload.order_id, domain.Trigger.BENEFITS_HELD)


async def on_benefits_rejected(delivery: Delivery, payload: membership.BenefitsRejectedV1) -> None:
    await _advance(
        delivery,
        payload.order_id,
        domain.Trigger.BENEFITS_REJECTED,
        domain.benefits_failure_reason(payload.reason),
    )


async def on_payment_authorized(delivery: Delivery, payload: payment.PaymentAuthorizedV1) -> None:
    await _advance(delivery, payload.order_id, domain.Trigger.PAYMENT_AUTHORIZED)


async def on_payment_failed(delivery: Delivery, payload: payment.PaymentFailedV1) -> None:
    await _advance(
        delivery,
        payload.order_id,
        domain.Trigger.PAYMENT_FAILED,
        domain.payment_failure_reason(payload.reason),
    )


async def on_settled(
    delivery: Delivery,
    payload: inventory.StockCommittedV1
    | inventory.StockReleasedV1
    | payment.PaymentCapturedV1
    | payment.PaymentVoidedV1
    | payment.PaymentRefundedV1
    | membership.PointsRedeemedV1
    | membership.PointsRestoredV1
    | membership.CouponRedeemedV1
    | membership.CouponRestoredV1,
) -> None:
    """Captures, releases and restorations only extend the timeline."""
    order = await locked(delivery.session, payload.order_id)
    if order is not None:
        entry = timeline_entry(order, delivery.envelope.type, str(delivery.envelope.id))
        await record(delivery.session, entry)
