"""Inventory routes: parse, authorise, call one use case; nothing else (docs/architecture.md)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Response, status
from fastapi.responses import JSONResponse

from chassis.auth import Admin
from chassis.deps import IdempotentCreate, create_route
from chassis.validation import SkuCode, SkuInPath
from inventory_service.deps import RuntimeDep
from inventory_service.schemas import (
    AdjustmentCreate,
    AvailabilityList,
    DisposalCreate,
    LotAdmin,
    LotCode,
    LotList,
    LotReceive,
    RecallCreate,
    RecallReport,
    StockAdmin,
    StockPublic,
    StockSet,
    TracePublic,
)
from inventory_service.service import disposals, lots, recalls, stock, trace

router = APIRouter(prefix="/api/v1")

Sku = SkuInPath
Lot = Annotated[LotCode, Path()]
# Lenient on purpose: hyphens, spaces and lower case are normalised by the service.
TraceCode = Annotated[str, Path(min_length=16, max_length=24, pattern=r"^[0-9A-Za-z -]+$")]


MAX_SKUS_PER_QUERY = 200


@router.get("/inventory", response_model=AvailabilityList, tags=["storefront"])
async def list_availability(
    runtime: RuntimeDep,
    sku: Annotated[
        list[SkuCode],
        Query(min_length=1, max_length=MAX_SKUS_PER_QUERY),
    ],
) -> AvailabilityList:
    """`?sku=A&sku=B`: the available units of each known SKU, in one read."""
    return AvailabilityList(items=await stock.list_available(runtime, sku))


@router.get("/inventory/{sku}", response_model=StockPublic, tags=["storefront"])
async def get_availability(runtime: RuntimeDep, sku: Sku) -> StockPublic:
    return await stock.get_available(runtime, sku)


@router.get("/admin/inventory/{sku}", response_model=StockAdmin, tags=["admin"])
async def admin_get_stock(runtime: RuntimeDep, _: Admin, sku: Sku) -> StockAdmin:
    return await stock.get_stock(runtime, sku)


@router.put(
    "/admin/inventory/{sku}",
    response_model=StockAdmin,
    tags=["admin"],
    responses={201: {"model": StockAdmin, "description": "the SKU's stock record was created"}},
)
async def set_stock(
    runtime: RuntimeDep, _: Admin, sku: Sku, body: StockSet, response: Response
) -> StockAdmin:
    admin_view, created = await stock.set_stock(runtime, sku, body)
    if created:
        response.status_code = status.HTTP_201_CREATED
    return admin_view


@create_route(router, "/admin/inventory/{sku}/adjustments", StockAdmin, tags=["admin"])
async def adjust_stock(
    runtime: RuntimeDep,
    admin: Admin,
    sku: Sku,
    body: AdjustmentCreate,
    create: IdempotentCreate,
) -> JSONResponse:
    return await create(
        f"{admin.subject}:{sku}", body, lambda: stock.adjust_stock(runtime, sku, body)
    )


@router.get("/trace/{code}", response_model=TracePublic, tags=["storefront"])
async def get_trace(runtime: RuntimeDep, code: TraceCode) -> TracePublic:
    """Public (no login): the product, lot, origin, dates, inspection and chain of custody of
    the units behind a trace code; nothing about the buyer."""
    return await trace.trace(runtime, code)


@router.get("/admin/inventory/{sku}/lots", response_model=LotList, tags=["admin"])
async def list_lots(runtime: RuntimeDep, _: Admin, sku: Sku) -> LotList:
    return await lots.list_lots(runtime, sku)


@create_route(router, "/admin/inventory/{sku}/lots", LotAdmin, tags=["admin"])
async def receive_lot(
    runtime: RuntimeDep, admin: Admin, sku: Sku, body: LotReceive, create: IdempotentCreate
) -> JSONResponse:
    return await create(
        f"{admin.subject}:{sku}:lots", body, lambda: lots.receive_lot(runtime, sku, body)
    )


@router.get("/admin/inventory/{sku}/lots/{lot}", response_model=LotAdmin, tags=["admin"])
async def get_lot(runtime: RuntimeDep, _: Admin, sku: Sku, lot: Lot) -> LotAdmin:
    return await lots.get_lot(runtime, sku, lot)


@router.post(
    "/admin/inventory/{sku}/lots/{lot}/recall",
    response_model=RecallReport,
    status_code=status.HTTP_201_CREATED,
    tags=["admin"],
)
async def recall_lot(
    runtime: RuntimeDep, admin: Admin, sku: Sku, lot: Lot, body: RecallCreate
) -> RecallReport:
    """Quarantine the lot, re-allocate or cancel the unshipped orders holding it, notify the
    members who received it; answers the recall report. A second recall of a lot is a 409."""
    return await recalls.recall_lot(runtime, sku, lot, body.reason, admin.subject)


@router.get("/admin/inventory/{sku}/lots/{lot}/recall", response_model=RecallReport, tags=["admin"])
async def get_recall_report(runtime: RuntimeDep, _: Admin, sku: Sku, lot: Lot) -> RecallReport:
    return await recalls.recall_report(runtime, sku, lot)


@create_route(router, "/admin/inventory/{sku}/lots/{lot}/disposals", LotAdmin, tags=["admin"])
async def dispose_of_lot(
    runtime: RuntimeDep,
    admin: Admin,
    sku: Sku,
    lot: Lot,
    body: DisposalCreate,
    create: IdempotentCreate,
) -> JSONResponse:
    """Units of a lot out of sale (expired or recalled) destroyed or sent back: they leave the
    lot for good. A sellable lot is 409 `lot-sellable` (adjust its stock instead)."""
    return await create(
        f"{admin.subject}:{sku}:{lot}:disposals",
        body,
        lambda: disposals.dispose_of_lot(runtime, sku, lot, body),
    )
