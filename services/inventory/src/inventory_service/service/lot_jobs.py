"""The lot job: withdraws lots past their expiry date, warns once about lots close to it, and
finishes withdrawals and recalls that a crash interrupted."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from chassis.logging import get_logger
from chassis.staging import session_stage
from inventory_service.deps import InventoryRuntime
from inventory_service.domain.lots import (
    AllocationStatus,
    LotStatus,
    days_left,
    shop_today,
)
from inventory_service.service.recalls import finish_recall, unfinished_recalls
from inventory_service.service.stock_levels import now
from inventory_service.service.withdrawals import expire_lot, settle_holders
from inventory_service.tables import ALLOCATIONS, LOTS
from shared_events import inventory as events

log = get_logger(__name__)

_SELLABLE = LotStatus.SELLABLE.value
_EXPIRED = (
    sa.select(LOTS.c.sku, LOTS.c.code)
    .where(LOTS.c.status == _SELLABLE, LOTS.c.expiry_date < sa.bindparam("today"))
    .order_by(LOTS.c.expiry_date, LOTS.c.sku, LOTS.c.code)
)
# Claimed and announced in one transaction: each lot is announced once.
_EXPIRING = (
    sa.update(LOTS)
    .where(
        LOTS.c.status == _SELLABLE,
        LOTS.c.expiring_notified_at.is_(None),
        LOTS.c.expiry_date >= sa.bindparam("today"),
        LOTS.c.expiry_date <= sa.bindparam("horizon"),
    )
    .values(expiring_notified_at=sa.bindparam("at"))
    .returning(LOTS.c.sku, LOTS.c.code, LOTS.c.expiry_date, LOTS.c.on_hand)
)
# Withdrawn lots that orders still hold unshipped: a settlement a crash interrupted.
_UNSETTLED = sa.select(LOTS.c.sku, LOTS.c.code).where(
    LOTS.c.status != _SELLABLE,
    sa.exists().where(
        ALLOCATIONS.c.sku == LOTS.c.sku,
        ALLOCATIONS.c.lot == LOTS.c.code,
        ALLOCATIONS.c.status.in_([AllocationStatus.HELD.value, AllocationStatus.COMMITTED.value]),
        ALLOCATIONS.c.shipped_at.is_(None),
    ),
)


async def expire_lots(runtime: InventoryRuntime) -> int:
    """Withdraw every sellable lot past its expiry date (in the shop's time zone), then settle
    the orders holding it. Returns how many lots were withdrawn."""
    today = shop_today(runtime.settings.shop_zone, now())
    async with runtime.database.sessions() as session:
        due = (await (await session.connection()).execute(_EXPIRED.params(today=today))).all()
    withdrawn = 0
    for sku, code in due:
        async with runtime.database.transaction() as session:
            stage = session_stage(runtime.outbox, session, correlate=True)
            if await expire_lot(await session.connection(), stage, sku, code):
                withdrawn += 1
        await settle_holders(runtime, sku, code)
    return withdrawn


async def warn_expiring(runtime: InventoryRuntime) -> int:
    """`inventory.lot.expiring`, once per lot, for sellable lots within the warning window."""
    settings, at = runtime.settings, now()
    today = shop_today(settings.shop_zone, at)
    horizon = today + timedelta(days=settings.expiring_warning_days)
    async with runtime.database.transaction() as session:
        conn = await session.connection()
        rows = (await conn.execute(_EXPIRING, {"today": today, "horizon": horizon, "at": at})).all()
        stage = session_stage(runtime.outbox, session, correlate=True)
        for sku, code, expiry_date, on_hand in rows:
            stage(
                events.LotExpiringV1(
                    sku=sku,
                    lot=code,
                    expiry_date=expiry_date,
                    days_left=days_left(expiry_date, today),
                    on_hand=on_hand,
                ),
                subject=sku,
            )
    return len(rows)


async def resume_interrupted(runtime: InventoryRuntime) -> None:
    async with runtime.database.sessions() as session:
        unsettled = (await (await session.connection()).execute(_UNSETTLED)).all()
    for sku, code in unsettled:
        await settle_holders(runtime, sku, code)
    for recall_id in await unfinished_recalls(runtime):
        await finish_recall(runtime, recall_id)


async def check_lots(runtime: InventoryRuntime) -> None:
    """One round of the lot job."""
    expired = await expire_lots(runtime)
    expiring = await warn_expiring(runtime)
    await resume_interrupted(runtime)
    if expired or expiring:
        log.info("lots checked", expired=expired, expiring=expiring)
