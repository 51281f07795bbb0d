"""Reading orders: owner or admin; another member's order does not exist for them."""

from __future__ import annotations

from collections import defaultdict

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.auth import Principal
from chassis.db import as_utc
from chassis.errors import NotFound
from chassis.pagination import Page, paginate
from chassis.validation import MoneyPublic
from order_service.deps import OrderRuntime
from order_service.schemas import OrderLinePublic, OrderPublic, TimelineEntry, TraceAllocation
from order_service.tables import LineAllocationRow, OrderLineRow, OrderRow, TimelineRow


async def _public(session: AsyncSession, orders: list[OrderRow]) -> list[OrderPublic]:
    ids = [o.id for o in orders]
    lines = (
        await session.exec(select(OrderLineRow).where(col(OrderLineRow.order_id).in_(ids)))
    ).all()
    allocations = (
        await session.exec(
            select(LineAllocationRow)
            .where(col(LineAllocationRow.order_id).in_(ids))
            .order_by(col(LineAllocationRow.id))
        )
    ).all()
    trace: dict[tuple[str, str], list[TraceAllocation]] = defaultdict(list)
    for a in allocations:
        trace[(a.order_id, a.sku)].append(
            TraceAllocation(lot=a.lot, quantity=a.quantity, trace_code=a.trace_code)
        )
    timeline = (
        await session.exec(
            select(TimelineRow)
            .where(col(TimelineRow.order_id).in_(ids))
            .order_by(col(TimelineRow.at), col(TimelineRow.id))
        )
    ).all()
    result = []
    for order in orders:
        currency = order.currency
        result.append(
            OrderPublic(
                id=order.id,
                member_id=order.member_id,
                status=order.status,
                reason=order.reason,
                items=[
                    OrderLinePublic(
                        sku=line.sku,
                        product_id=line.product_id,
                        name=line.name,
                        quantity=line.quantity,
                        unit_price=MoneyPublic(amount=line.unit_amount, currency=currency),
                        line_total=MoneyPublic(amount=line.line_amount, currency=currency),
                        trace=trace[(order.id, line.sku)],
                    )
                    for line in lines
                    if line.order_id == order.id
                ],
                currency=currency,
                subtotal=MoneyPublic(amount=order.subtotal, currency=currency),
                discount=MoneyPublic(amount=order.discount, currency=currency),
                tier_discount=MoneyPublic(amount=order.tier_discount, currency=currency),
                coupon_code=order.coupon_code,
                coupon_discount=MoneyPublic(amount=order.coupon_discount, currency=currency),
                points=order.points,
                points_discount=MoneyPublic(amount=order.points_discount, currency=currency),
                total=MoneyPublic(amount=order.total, currency=currency),
                shipping_address=order.shipping_address,
                created_at=as_utc(order.created_at),
                recalled_at=as_utc(order.recalled_at),
                timeline=[
                    TimelineEntry(
                        type=t.event_type, status=t.status, reason=t.reason, at=as_utc(t.at)
                    )
                    for t in timeline
                    if t.order_id == order.id
                ],
            )
        )
    return result


async def get_order(runtime: OrderRuntime, viewer: Principal, order_id: str) -> OrderPublic:
    async with runtime.database.snapshot() as session:
        order = await session.get(OrderRow, order_id)
        if order is None or (order.member_id != viewer.subject and not viewer.is_admin):
            raise NotFound(f"order {order_id} does not exist")
        return (await _public(session, [order]))[0]


async def list_orders(
    runtime: OrderRuntime, viewer: Principal, *, page: int, size: int
) -> Page[OrderPublic]:
    filters = [] if viewer.is_admin else [OrderRow.member_id == viewer.subject]
    newest_first = (
        select(OrderRow).where(*filters).order_by(col(OrderRow.created_at).desc(), col(OrderRow.id))
    )
    async with runtime.database.snapshot() as session:
        return await paginate(
            session,
            newest_first,
            page=page,
            size=size,
            shape=lambda orders: _public(session, list(orders)),
        )
