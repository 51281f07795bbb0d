"""Payment routes (DESIGN.md section 7). Parse, authorise, call the service; nothing else."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from chassis.auth import Admin, Member
from chassis.deps import RuntimeDep
from chassis.validation import Identifier
from payment_service import service
from payment_service.schemas import LedgerPublic, PaymentPublic

router = APIRouter(prefix="/api/v1")

OrderId = Annotated[Identifier, Path()]


@router.get("/payments/{order_id}", response_model=PaymentPublic, tags=["storefront"])
async def get_payment(runtime: RuntimeDep, principal: Member, order_id: OrderId) -> PaymentPublic:
    """The payment of one of my orders (any order for an admin); 404 for someone else's."""
    return await service.get_payment(runtime, order_id, viewer=principal)


@router.get("/admin/payments/{order_id}/ledger", response_model=LedgerPublic, tags=["admin"])
async def get_ledger(runtime: RuntimeDep, _: Admin, order_id: OrderId) -> LedgerPublic:
    return await service.get_ledger(runtime, order_id)
