"""Recall notices go out once per (recall, order), whichever event brings them.

The inbox and the deliveries' unique key stop a second handling of the same event. A recall
re-run by inventory, or a notice published again under a new event id, is another event for
both: the claim here, in the handler's transaction, is what keeps the member from being told
twice. It is taken for a parked notice too (the member not known here yet), so the release
sends it once; a parked recall notice never expires (`parking.expire`), so no claim is left
standing for a notice that was dropped.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import insert_ignore
from notification_service.tables import RecallNoticeRow
from shared_events import Envelope
from shared_events.inventory import RecallCustomerAffectedV1


async def claim(session: AsyncSession, envelope: Envelope, event: RecallCustomerAffectedV1) -> bool:
    """True when this event is the first to bring this recall to this order's member (or it
    is the same event handled again: its rows are already written, the unique keys make a
    second write a no-op); False when another event already did."""
    row = {
        "recall_id": event.recall_id,
        "order_id": event.order_id,
        "cause_event_id": str(envelope.id),
        "created_at": datetime.now(UTC),
    }
    if await insert_ignore(session, RecallNoticeRow, row) == 1:
        return True
    taken = await session.get(RecallNoticeRow, (event.recall_id, event.order_id))
    return taken is not None and taken.cause_event_id == str(envelope.id)
