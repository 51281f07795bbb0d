"""Order and cart routes: parse, authorise, call one use case (docs/architecture.md)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Literal

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from fastapi.types import DecoratedCallable

from chassis.auth import Admin, Member
from chassis.idempotency import IdempotencyKey
from chassis.idempotency_db import idempotency_records
from chassis.pagination import Page, PageNumber, PageSize
from chassis.validation import IdentifierInPath, SkuInPath
from order_service.deps import RuntimeDep
from order_service.schemas import (
    CartItemPut,
    CartPublic,
    OrderAccepted,
    OrderCreate,
    OrderPublic,
)
from order_service.service import carts, orders, queries

router = APIRouter(prefix="/api/v1")

OrderId = IdentifierInPath
Sku = SkuInPath


def command_route(
    path: str, tags: Sequence[str]
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """`POST path` of a command on an order. Each answers 202 with the order's id and status:
    what follows from it (stock, payment, refunds, notices) happens after the answer."""
    return router.post(
        path, status_code=status.HTTP_202_ACCEPTED, response_model=OrderAccepted, tags=list(tags)
    )


@command_route("/orders", tags=["orders"])
async def place_order(
    runtime: RuntimeDep,
    member: Member,
    body: OrderCreate,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    # The key is stored in the order's own transaction (order database, not Redis): one
    # statement more than an order without a key, and never an order without its key.
    return await idempotency_records(runtime).run(
        scope=member.subject,
        key=idempotency_key,
        body=body,
        status_code=status.HTTP_202_ACCEPTED,
        operation=lambda session: orders.place_order_in(session, runtime, member, body),
    )


@router.get("/orders", response_model=Page[OrderPublic], tags=["orders"])
async def list_orders(
    runtime: RuntimeDep,
    member: Member,
    page: PageNumber = 1,
    size: PageSize = 20,
) -> Page[OrderPublic]:
    return await queries.list_orders(runtime, member, page=page, size=size)


@router.get("/orders/{order_id}", response_model=OrderPublic, tags=["orders"])
async def get_order(runtime: RuntimeDep, member: Member, order_id: OrderId) -> OrderPublic:
    return await queries.get_order(runtime, member, order_id)


@command_route("/orders/{order_id}/cancel", tags=["orders"])
async def cancel_order(runtime: RuntimeDep, member: Member, order_id: OrderId) -> OrderAccepted:
    return await orders.cancel_order(runtime, member, order_id)


@command_route("/orders/{order_id}/returns", tags=["orders"])
async def return_order(runtime: RuntimeDep, member: Member, order_id: OrderId) -> OrderAccepted:
    """Return a delivered order in full (within ORDER_RETURN_WINDOW_DAYS of delivery): the
    order becomes REFUNDED, payment refunds the capture, inventory restocks."""
    return await orders.return_order(runtime, member, order_id)


@command_route("/admin/orders/{order_id}/{action}", tags=["admin"])
async def fulfil_order(
    runtime: RuntimeDep,
    _: Admin,
    order_id: OrderId,
    action: Literal["ship", "deliver", "complete"],
) -> OrderAccepted:
    return await orders.fulfil_order(runtime, order_id, action)


@router.get("/cart", response_model=CartPublic, tags=["cart"])
async def get_cart(runtime: RuntimeDep, member: Member) -> CartPublic:
    return await carts.get_cart(runtime, member)


@router.put("/cart/items/{sku}", response_model=CartPublic, tags=["cart"])
async def put_cart_item(
    runtime: RuntimeDep, member: Member, sku: Sku, body: CartItemPut
) -> CartPublic:
    return await carts.put_item(runtime, member, sku, body.quantity)


@router.delete("/cart/items/{sku}", response_model=CartPublic, tags=["cart"])
async def delete_cart_item(runtime: RuntimeDep, member: Member, sku: Sku) -> CartPublic:
    return await carts.delete_item(runtime, member, sku)
