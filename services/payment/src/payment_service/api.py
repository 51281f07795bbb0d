"""Payment routes: parse, authorise, call one use case; nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from chassis.auth import Admin, Member
from chassis.validation import Identifier
from payment_service.deps import RuntimeDep
from payment_service.schemas import LedgerPublic, PaymentPublic
from payment_service.service import reads

router = APIRouter(prefix="/api/v1")

OrderId = Annotated[Identifier, Path()]


@router.get("/payments/{order_id}", response_model=PaymentPublic, tags=["storefront"])
async def get_payment(runtime: RuntimeDep, principal: Member, order_id: OrderId) -> PaymentPublic:
    """The payment of one of my orders (any order for an admin); 404 for someone else's."""
    return await reads.get_payment(runtime, order_id, viewer=principal)


@router.get("/admin/payments/{order_id}/ledger", response_model=LedgerPublic, tags=["admin"])
async def get_ledger(runtime: RuntimeDep, _: Admin, order_id: OrderId) -> LedgerPublic:
    return await reads.get_ledger(runtime, order_id)
