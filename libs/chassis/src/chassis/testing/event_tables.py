"""What a service's inbox and outbox tables say, for tests of a running service: whether a
consumed event was handled (its inbox row is committed), and which events it staged.

    await wait_handled(runtime.database, envelope)
    assert await staged_types(runtime.database, order_id) == ["inventory.stock.reserved"]
"""

from __future__ import annotations

from sqlmodel import col, select

from chassis.db import Database
from chassis.inbox import InboxRecord
from chassis.outbox import OutboxRecord
from chassis.testing.polling import eventually
from shared_events import Envelope


async def is_handled(database: Database, envelope: Envelope) -> bool:
    """Whether a consumer has committed `envelope` (its inbox row exists)."""
    query = select(InboxRecord.event_id).where(InboxRecord.event_id == envelope.id)
    async with database.sessions() as session:
        return (await session.exec(query)).first() is not None


async def wait_handled(database: Database, envelope: Envelope, timeout: float = 10.0) -> None:
    """Wait (bounded) until a consumer has committed `envelope`. Events of one key are handled
    in order, so every earlier one of that key was handled too."""

    async def handled() -> bool:
        return await is_handled(database, envelope)

    done = await eventually(handled, bool, timeout=timeout, every=0.05)
    assert done, f"{envelope.type} {envelope.id} was not handled in {timeout}s"


async def staged_types(database: Database, subject: str) -> list[str]:
    """Types of the events the service wrote to its outbox for `subject`, oldest first (sent
    or not yet sent)."""
    query = (
        select(OutboxRecord.event_type)
        .where(OutboxRecord.subject == subject)
        .order_by(col(OutboxRecord.id))
    )
    async with database.sessions() as session:
        return list((await session.exec(query)).all())
