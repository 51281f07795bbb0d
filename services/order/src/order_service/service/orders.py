"""Placing an order and every state change of the saga: one transaction each."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.auth import Principal
from chassis.consumer import Delivery
from chassis.errors import NotFound, ProblemError
from chassis.outbox import Outbox
from chassis.runtime import Runtime
from order_service import domain
from order_service.config import OrderSettings
from order_service.schemas import OrderAccepted, OrderCreate
from order_service.service.read_model import prices_for
from order_service.tables import OrderLineRow, OrderRow, TimelineRow
from shared_events import Envelope, EventPayload
from shared_events import inventory as inventory_events
from shared_events import order as events
from shared_events import payment as payment_events
from shared_events.money import Money


def _now() -> datetime:
    return datetime.now(UTC)


def _money(amount: int, currency: str) -> Money:
    return Money(amount=amount, currency=currency)


def _record(
    session: AsyncSession, order: OrderRow, event_type: str, event_id: str | None = None
) -> None:
    session.add(
        TimelineRow(
            order_id=order.id,
            event_type=event_type,
            status=order.status,
            reason=order.reason,
            event_id=event_id,
            at=_now(),
        )
    )


async def place_order(runtime: Runtime, member: Principal, data: OrderCreate) -> OrderAccepted:
    if data.coupon_code or data.points:
        raise ProblemError(422, "coupons and points are not supported yet", code="not-supported")
    settings = runtime.settings
    assert isinstance(settings, OrderSettings)
    items = [(item.sku, item.quantity) for item in data.items]
    async with runtime.database.transaction() as session:
        prices = await prices_for(session, [sku for sku, _ in items])
        try:
            quote = domain.price_order(items, prices, data.currency)
        except domain.OrderRuleError as error:
            raise ProblemError(422, error.detail, code=error.code) from None
        now = _now()
        order = OrderRow(
            id=str(uuid.uuid4()),
            member_id=member.subject,
            status=domain.OrderStatus.PENDING.value,
            saga_step=domain.SagaStep.AWAITING_STOCK.value,
            currency=quote.currency,
            subtotal=quote.subtotal,
            discount=quote.discount,
            total=quote.total,
            payment_token=data.payment_token,
            shipping_address=data.shipping_address.model_dump(mode="json"),
            deadline_at=now + timedelta(seconds=settings.saga_timeout_seconds),
            created_at=now,
            updated_at=now,
        )
        session.add(order)
        await session.flush()
        session.add_all(
            OrderLineRow(
                order_id=order.id,
                sku=line.sku,
                product_id=line.product_id,
                name=line.name,
                quantity=line.quantity,
                unit_amount=line.unit_amount,
                line_amount=line.line_amount,
            )
            for line in quote.lines
        )
        envelope = runtime.outbox.stage(
            session,
            events.OrderPlacedV1(
                order_id=order.id,
                member_id=order.member_id,
                currency=order.currency,
                items=[
                    events.OrderLine(
                        sku=line.sku,
                        product_id=line.product_id,
                        name=line.name,
                        quantity=line.quantity,
                        unit_price=_money(line.unit_amount, quote.currency),
                        line_total=_money(line.line_amount, quote.currency),
                    )
                    for line in quote.lines
                ],
                subtotal=_money(quote.subtotal, quote.currency),
                discount=_money(quote.discount, quote.currency),
                total=_money(quote.total, quote.currency),
                placed_at=now,
            ),
            subject=order.id,
            correlation_id=order.id,
        )
        _record(session, order, "order.order.placed", str(envelope.id))
    return OrderAccepted(order_id=order.id, status=order.status)


async def _locked(session: AsyncSession, order_id: str) -> OrderRow | None:
    query = select(OrderRow).where(OrderRow.id == order_id).with_for_update()
    return (await session.exec(query)).first()


Stage = Callable[[EventPayload], Envelope]


def _from_request(outbox: Outbox, session: AsyncSession, order: OrderRow) -> Stage:
    return lambda payload: outbox.stage(session, payload, subject=order.id, correlation_id=order.id)


def _finish(
    stage: Stage,
    session: AsyncSession,
    order: OrderRow,
    state: domain.State,
    reason: domain.Reason | None,
) -> None:
    """Move to a terminal or next state and publish what that means."""
    was_confirmed = order.status == domain.OrderStatus.CONFIRMED.value
    order.status, order.saga_step = state[0].value, state[1].value
    order.reason = reason.value if reason else None
    order.updated_at = _now()
    payload: EventPayload
    if state[0] is domain.OrderStatus.CONFIRMED:
        payload = events.OrderConfirmedV1(
            order_id=order.id, member_id=order.member_id, total=_money(order.total, order.currency)
        )
    elif state[0] is domain.OrderStatus.REJECTED:
        assert reason is not None
        payload = events.OrderRejectedV1(
            order_id=order.id, member_id=order.member_id, reason=reason.value
        )
    elif state[0] is domain.OrderStatus.CANCELLED:
        assert reason is not None
        payload = events.OrderCancelledV1(
            order_id=order.id,
            member_id=order.member_id,
            reason=reason.value,
            was_confirmed=was_confirmed,
        )
    else:  # still pending: stock is held, ask payment to authorise
        payload = events.PaymentRequestedV1(
            order_id=order.id,
            member_id=order.member_id,
            amount=_money(order.total, order.currency),
            payment_token=order.payment_token or "",
        )
        order.payment_token = None
    if state[1] is domain.SagaStep.DONE:
        order.deadline_at = None
    session.add(order)
    _record(session, order, payload.event_type, str(stage(payload).id))


async def _advance(
    delivery: Delivery,
    order_id: str,
    trigger: domain.Trigger,
    reason: domain.Reason | None = None,
) -> None:
    session = delivery.session
    order = await _locked(session, order_id)
    if order is None:
        return  # not ours (e.g. an order of another deployment): nothing to do
    _record(session, order, delivery.envelope.type, str(delivery.envelope.id))
    state = domain.next_state(
        domain.OrderStatus(order.status), domain.SagaStep(order.saga_step), trigger
    )
    if state is None:
        return  # late or repeated answer: the timeline shows it, the state stays
    _finish(lambda p: delivery.stage(p, subject=order.id), session, order, state, reason)


async def on_stock_reserved(delivery: Delivery, payload: inventory_events.StockReservedV1) -> None:
    await _advance(delivery, payload.order_id, domain.Trigger.STOCK_RESERVED)


async def on_stock_rejected(delivery: Delivery, payload: inventory_events.StockRejectedV1) -> None:
    await _advance(
        delivery, payload.order_id, domain.Trigger.STOCK_REJECTED, domain.Reason.OUT_OF_STOCK
    )


async def on_payment_authorized(
    delivery: Delivery, payload: payment_events.PaymentAuthorizedV1
) -> None:
    await _advance(delivery, payload.order_id, domain.Trigger.PAYMENT_AUTHORIZED)


async def on_payment_failed(delivery: Delivery, payload: payment_events.PaymentFailedV1) -> None:
    await _advance(
        delivery,
        payload.order_id,
        domain.Trigger.PAYMENT_FAILED,
        domain.payment_failure_reason(payload.reason),
    )


async def on_payment_settled(
    delivery: Delivery,
    payload: payment_events.PaymentCapturedV1
    | payment_events.PaymentVoidedV1
    | payment_events.PaymentRefundedV1,
) -> None:
    """Compensation and capture results only extend the timeline."""
    order = await _locked(delivery.session, payload.order_id)
    if order is not None:
        _record(delivery.session, order, delivery.envelope.type, str(delivery.envelope.id))


async def on_stock_settled(
    delivery: Delivery,
    payload: inventory_events.StockCommittedV1 | inventory_events.StockReleasedV1,
) -> None:
    order = await _locked(delivery.session, payload.order_id)
    if order is not None:
        _record(delivery.session, order, delivery.envelope.type, str(delivery.envelope.id))


async def cancel_order(runtime: Runtime, member: Principal, order_id: str) -> OrderAccepted:
    async with runtime.database.transaction() as session:
        order = await _locked(session, order_id)
        if order is None or (order.member_id != member.subject and not member.is_admin):
            raise NotFound(f"order {order_id} does not exist")
        try:
            state = domain.cancellation(
                domain.OrderStatus(order.status), domain.SagaStep(order.saga_step)
            )
        except domain.OrderRuleError as error:
            raise ProblemError(409, error.detail, code=error.code) from None
        _finish(
            _from_request(runtime.outbox, session, order),
            session,
            order,
            state,
            domain.Reason.CANCELLED_BY_CUSTOMER,
        )
    return OrderAccepted(order_id=order.id, status=order.status)


async def cancel_overdue(runtime: Runtime, limit: int = 100) -> int:
    """Saga timeout: a PENDING order past its deadline is cancelled and compensated."""
    async with runtime.database.transaction() as session:
        query = (
            select(OrderRow)
            .where(OrderRow.status == domain.OrderStatus.PENDING.value)
            .where(col(OrderRow.deadline_at) < _now())
            .order_by(col(OrderRow.deadline_at))
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
        overdue = list((await session.exec(query)).all())
        for order in overdue:
            state = domain.next_state(
                domain.OrderStatus(order.status),
                domain.SagaStep(order.saga_step),
                domain.Trigger.TIMEOUT,
            )
            if state is not None:
                _finish(
                    _from_request(runtime.outbox, session, order),
                    session,
                    order,
                    state,
                    domain.Reason.TIMEOUT,
                )
    return len(overdue)
