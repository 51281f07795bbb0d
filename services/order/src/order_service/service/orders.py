"""Placing, cancelling, fulfilling and timing out orders: one transaction each."""

from __future__ import annotations

import contextlib
import uuid
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.auth import Principal
from chassis.db import as_utc
from chassis.errors import NotFound
from order_service.config import OrderSettings
from order_service.deps import OrderRuntime
from order_service.domain.pricing import PricingRules, apply_benefits, price_order
from order_service.domain.saga import (
    OrderStatus,
    Reason,
    SagaStep,
    Trigger,
    cancellation,
    first_step,
    fulfilment,
    next_state,
    return_request,
)
from order_service.schemas import OrderAccepted, OrderCreate
from order_service.service.order_state import (
    OrderChanged,
    locked,
    money,
    move,
    now,
    overdue,
    stage_for_request,
)
from order_service.service.read_model import benefits_for, prices_and_tier
from order_service.tables import ORDER_LINES, ORDERS, TIMELINE, OrderRow, TimelineRow
from shared_events import order as events


def _pricing_rules(settings: OrderSettings) -> PricingRules:
    return PricingRules(
        points_per_yuan=settings.points_per_yuan,
        points_max_share_percent=settings.points_max_share_percent,
    )


async def place_order_in(
    session: AsyncSession, runtime: OrderRuntime, member: Principal, data: OrderCreate
) -> OrderAccepted:
    """Place the order in the caller's transaction (the one that also stores its
    Idempotency-Key, chassis.idempotency_db); writes only through `session`."""
    settings = runtime.settings
    items = [(item.sku, item.quantity) for item in data.items]
    prices, tier_discount = await prices_and_tier(
        session, [sku for sku, _ in items], member.subject
    )
    quote = price_order(items, prices, data.currency)
    benefits = await benefits_for(
        session, data.coupon_code, data.points or 0, tier_discount_percent=tier_discount
    )
    quote = apply_benefits(
        quote, benefits, _pricing_rules(settings), now=now(), member_id=member.subject
    )
    placed_at = now()
    uses_benefits = quote.coupon_code is not None or quote.points > 0
    order_id, status = str(uuid.uuid4()), OrderStatus.PENDING.value
    # Core statements: the hot path of every order, no ORM unit of work to flush.
    connection = await session.connection()
    await connection.execute(
        sa.insert(ORDERS),
        {
            "id": order_id,
            "member_id": member.subject,
            "status": status,
            "saga_step": first_step(uses_benefits).value,
            "reason": None,
            "currency": quote.currency,
            "subtotal": quote.subtotal,
            "discount": quote.discount,
            "tier_discount": quote.tier_discount,
            "coupon_code": quote.coupon_code,
            "coupon_discount": quote.coupon_discount,
            "points": quote.points,
            "points_discount": quote.points_discount,
            "total": quote.total,
            "payment_token": data.payment_token,
            "shipping_address": data.shipping_address.model_dump(mode="json"),
            "deadline_at": placed_at + timedelta(seconds=settings.saga_timeout_seconds),
            "created_at": placed_at,
            "updated_at": placed_at,
        },
    )
    await connection.execute(
        sa.insert(ORDER_LINES),
        [
            {
                "order_id": order_id,
                "sku": line.sku,
                "product_id": line.product_id,
                "name": line.name,
                "quantity": line.quantity,
                "unit_amount": line.unit_amount,
                "line_amount": line.line_amount,
            }
            for line in quote.lines
        ],
    )
    currency = quote.currency
    envelope = runtime.outbox.stage(
        session,
        events.OrderPlacedV1(
            order_id=order_id,
            member_id=member.subject,
            currency=currency,
            items=[
                events.OrderLine(
                    sku=line.sku,
                    product_id=line.product_id,
                    name=line.name,
                    quantity=line.quantity,
                    unit_price=money(line.unit_amount, currency),
                    line_total=money(line.line_amount, currency),
                )
                for line in quote.lines
            ],
            subtotal=money(quote.subtotal, currency),
            discount=money(quote.discount, currency),
            total=money(quote.total, currency),
            placed_at=placed_at,
            coupon_code=quote.coupon_code,
            points=quote.points,
        ),
        subject=order_id,
        correlation_id=order_id,
    )
    await connection.execute(
        sa.insert(TIMELINE),
        {
            "order_id": order_id,
            "event_type": envelope.type,
            "status": status,
            "reason": None,
            "event_id": str(envelope.id),
            "at": placed_at,
        },
    )
    return OrderAccepted(order_id=order_id, status=status)


async def cancel_order(runtime: OrderRuntime, member: Principal, order_id: str) -> OrderAccepted:
    async with runtime.database.transaction() as session:
        order = await locked(session, order_id)
        if order is None or (order.member_id != member.subject and not member.is_admin):
            raise NotFound(f"order {order_id} does not exist")
        state = cancellation(OrderStatus(order.status), SagaStep(order.saga_step))
        stage = stage_for_request(runtime.outbox, session, order)
        await move(stage, session, order, state, Reason.CANCELLED_BY_CUSTOMER)
    return OrderAccepted(order_id=order.id, status=order.status)


async def return_order(runtime: OrderRuntime, member: Principal, order_id: str) -> OrderAccepted:
    """After-sales: the owner returns a delivered order in full; payment refunds it. A recalled
    order is returnable whatever the window."""
    settings = runtime.settings
    async with runtime.database.transaction() as session:
        order = await locked(session, order_id)
        if order is None or order.member_id != member.subject:
            raise NotFound(f"order {order_id} does not exist")
        state = return_request(
            OrderStatus(order.status),
            await delivered_at(session, order.id),
            now(),
            timedelta(days=settings.return_window_days),
            recalled=await is_recalled(session, order.id),
        )
        stage = stage_for_request(runtime.outbox, session, order)
        await move(stage, session, order, state, Reason.RETURNED_BY_CUSTOMER)
    return OrderAccepted(order_id=order.id, status=order.status)


async def delivered_at(session: AsyncSession, order_id: str) -> datetime | None:
    query = (
        select(TimelineRow.at)
        .where(TimelineRow.order_id == order_id)
        .where(TimelineRow.event_type == events.OrderDeliveredV1.event_type)
    )
    return as_utc((await session.exec(query)).first())


async def is_recalled(session: AsyncSession, order_id: str) -> bool:
    query = select(OrderRow.recalled_at).where(OrderRow.id == order_id)
    return (await session.exec(query)).first() is not None


async def fulfil_order(runtime: OrderRuntime, order_id: str, action: str) -> OrderAccepted:
    """Admin: ship, deliver or complete a confirmed order."""
    async with runtime.database.transaction() as session:
        order = await locked(session, order_id)
        if order is None:
            raise NotFound(f"order {order_id} does not exist")
        state = fulfilment(OrderStatus(order.status), action)
        await move(stage_for_request(runtime.outbox, session, order), session, order, state)
    return OrderAccepted(order_id=order.id, status=order.status)


async def cancel_overdue(runtime: OrderRuntime, limit: int = 100) -> int:
    """Saga timeout: a PENDING order past its deadline is cancelled and compensated."""
    async with runtime.database.transaction() as session:
        late = await overdue(session, limit)
        for order in late:
            state = next_state(
                OrderStatus(order.status),
                SagaStep(order.saga_step),
                Trigger.TIMEOUT,
            )
            if state is not None:
                stage = stage_for_request(runtime.outbox, session, order)
                with contextlib.suppress(OrderChanged):  # answered meanwhile (SQLite): not late
                    await move(stage, session, order, state, Reason.TIMEOUT)
    return len(late)
