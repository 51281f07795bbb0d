"""The member's cart: lines priced from the read model at read time. A change of a line's
quantity stages `order.cart.item_changed` in the cart's transaction (the outbox, like every
order event); a PUT that leaves the quantity as it was stages nothing."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.auth import Principal
from chassis.errors import NotFound, ProblemError
from chassis.validation import MoneyPublic
from order_service.deps import OrderRuntime
from order_service.schemas import CartLine, CartPublic
from order_service.service.read_model import prices_for
from order_service.tables import CartItemRow
from shared_events.order import CartItemChangedV1

MAX_CART_LINES = 50


async def get_cart(runtime: OrderRuntime, member: Principal) -> CartPublic:
    async with runtime.database.reads() as session:
        rows = (
            await session.exec(
                select(CartItemRow)
                .where(CartItemRow.member_id == member.subject)
                .order_by(CartItemRow.sku)
            )
        ).all()
        prices = await prices_for(session, [r.sku for r in rows])
    lines = []
    for row in rows:
        price = prices.get(row.sku)
        lines.append(
            CartLine(
                sku=row.sku,
                quantity=row.quantity,
                name=price.name if price else None,
                unit_price=MoneyPublic(amount=price.amount, currency=price.currency)
                if price
                else None,
                available_for_sale=bool(price and price.published),
            )
        )
    return CartPublic(items=lines)


async def put_item(runtime: OrderRuntime, member: Principal, sku: str, quantity: int) -> CartPublic:
    async with runtime.database.transaction() as session:
        prices = await prices_for(session, [sku])
        if sku not in prices or not prices[sku].published:
            raise ProblemError(422, f"SKU {sku} is not for sale", code="unknown-sku")
        # Locked: concurrent changes of one line see each other's quantity as their "before".
        row = await session.get(CartItemRow, (member.subject, sku), with_for_update=True)
        before = row.quantity if row is not None else 0
        if row is None:
            count = len(
                (
                    await session.exec(
                        select(CartItemRow.sku).where(CartItemRow.member_id == member.subject)
                    )
                ).all()
            )
            if count >= MAX_CART_LINES:
                raise ProblemError(422, "the cart is full", code="cart-full")
            row = CartItemRow(
                member_id=member.subject, sku=sku, quantity=quantity, updated_at=datetime.now(UTC)
            )
        now = datetime.now(UTC)
        row.quantity, row.updated_at = quantity, now
        session.add(row)
        stage_change(runtime, session, member.subject, sku, before, quantity, now)
    return await get_cart(runtime, member)


async def delete_item(runtime: OrderRuntime, member: Principal, sku: str) -> CartPublic:
    async with runtime.database.transaction() as session:
        row = await session.get(CartItemRow, (member.subject, sku), with_for_update=True)
        if row is None:
            raise NotFound(f"SKU {sku} is not in the cart")
        await session.delete(row)
        stage_change(runtime, session, member.subject, sku, row.quantity, 0, datetime.now(UTC))
    return await get_cart(runtime, member)


def stage_change(
    runtime: OrderRuntime,
    session: AsyncSession,
    member_id: str,
    sku: str,
    before: int,
    after: int,
    at: datetime,
) -> None:
    """The line's change as an event of the member's cart (subject: the member id, so one
    member's changes stay in order), only when the quantity really changed."""
    if before == after:
        return
    runtime.outbox.stage(
        session,
        CartItemChangedV1(
            member_id=member_id,
            sku=sku,
            quantity_before=before,
            quantity_after=after,
            changed_at=at,
        ),
        subject=member_id,
    )
