"""Inbox: `(consumer, event_id)` written in the handler's transaction, so an event that is
delivered twice has its effect once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.operations import Operations
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import insert_ignore


class InboxRecord(SQLModel, table=True):
    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=200)
    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid(), primary_key=True))
    event_type: str = Field(max_length=200)
    processed_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


def create_inbox_table(op: Operations) -> None:
    """Called from the first migration of each service that consumes events."""
    op.create_table(
        "inbox",
        sa.Column("consumer", sa.String(200), primary_key=True),
        sa.Column("event_id", sa.Uuid(), primary_key=True),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("processed_at", sa.DateTime(timezone=True), nullable=False),
    )


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
