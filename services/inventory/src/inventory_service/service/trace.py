"""Trace codes: the public story of the units behind one code (溯源), from the lot's origin to
the customer's door, and nothing about the customer."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from chassis.db import as_utc
from chassis.errors import NotFound, ProblemError
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.lots import parse_trace_code
from inventory_service.schemas import CustodyStep, TraceLot, TraceProduct, TracePublic
from inventory_service.service.lots import origin_of
from inventory_service.tables import ALLOCATIONS, LOTS, RECALLS

_TRACE = (
    sa.select(
        ALLOCATIONS.c.trace_code,
        ALLOCATIONS.c.sku,
        ALLOCATIONS.c.product_name,
        ALLOCATIONS.c.quantity,
        ALLOCATIONS.c.committed_at,
        ALLOCATIONS.c.shipped_at,
        ALLOCATIONS.c.delivered_at,
        LOTS.c.code,
        LOTS.c.status,
        LOTS.c.origin_country,
        LOTS.c.origin_region,
        LOTS.c.producer,
        LOTS.c.production_date,
        LOTS.c.expiry_date,
        LOTS.c.storage_class,
        LOTS.c.inspection_ref,
        LOTS.c.inspected_at,
        LOTS.c.received_at,
        RECALLS.c.recalled_at,
        RECALLS.c.reason.label("recall_reason"),
    )
    .join(LOTS, (LOTS.c.sku == ALLOCATIONS.c.sku) & (LOTS.c.code == ALLOCATIONS.c.lot))
    .outerjoin(RECALLS, (RECALLS.c.sku == LOTS.c.sku) & (RECALLS.c.lot == LOTS.c.code))
)


async def trace(runtime: InventoryRuntime, text: str) -> TracePublic:
    code = parse_trace_code(text)
    if code is None:
        raise ProblemError(422, "a trace code is 16 letters and digits", code="invalid-trace-code")
    async with runtime.database.reads() as session:
        row = (
            await (await session.connection()).execute(
                _TRACE.where(ALLOCATIONS.c.trace_code == code)
            )
        ).first()
    if row is None:
        raise NotFound(f"no units carry the trace code {code}")
    steps: list[tuple[str, datetime | None, str | None]] = [
        ("RECEIVED", row.received_at, None),
        ("INSPECTED", row.inspected_at, row.inspection_ref),
        ("ALLOCATED", row.committed_at, None),
        ("SHIPPED", row.shipped_at, None),
        ("DELIVERED", row.delivered_at, None),
        ("RECALLED", row.recalled_at, row.recall_reason),
    ]
    custody = [
        CustodyStep(step=step, at=as_utc(at), detail=detail)
        for step, at, detail in steps
        if at is not None
    ]
    custody.sort(key=lambda step: step.at)
    return TracePublic(
        trace_code=code,
        quantity=row.quantity,
        product=TraceProduct(sku=row.sku, name=row.product_name),
        lot=TraceLot(
            code=row.code,
            status=row.status,
            origin=origin_of(row),
            production_date=row.production_date,
            expiry_date=row.expiry_date,
            storage_class=row.storage_class,
            inspection_ref=row.inspection_ref,
        ),
        custody=custody,
        recalled=row.recalled_at is not None,
    )
