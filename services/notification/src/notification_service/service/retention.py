"""Delivery rows are kept `delivery_keep_days` after they became final (SENT or FAILED), then
deleted: they hold what was sent (bodies with coupon codes, phone numbers, webhook payloads),
which nobody needs once the delivery log's questions are old, and the table would otherwise
grow with every message for as long as the service runs. Rows still due are never deleted.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from chassis.columns import table_of
from chassis.db import delete_in_batches
from chassis.logging import get_logger
from chassis.retention import RETENTION_BATCH, RETENTION_MAX_BATCHES
from notification_service.deps import NotificationRuntime
from notification_service.domain.delivery import DeliveryStatus
from notification_service.tables import DeliveryRow

log = get_logger(__name__)

_T = table_of(DeliveryRow)
FINAL = [DeliveryStatus.SENT.value, DeliveryStatus.FAILED.value]


async def delete_old_deliveries(runtime: NotificationRuntime) -> int:
    """The job: delete the final deliveries last changed before the retention; how many."""
    cutoff = datetime.now(UTC) - timedelta(days=runtime.settings.delivery_keep_days)
    deleted = await delete_in_batches(
        runtime.database,
        _T,
        (_T.c.id,),
        _T.c.status.in_(FINAL) & (_T.c.updated_at < cutoff),
        batch_size=RETENTION_BATCH,
        max_batches=RETENTION_MAX_BATCHES,
    )
    if deleted:
        log.info("old deliveries deleted", rows=deleted, older_than=cutoff.isoformat())
    return deleted
