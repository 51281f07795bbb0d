"""Transactional outbox: events are rows written in the business transaction, then relayed.

`Outbox.stage()` adds the row inside the caller's transaction, so a state change and its
events commit together or not at all. `OutboxRelay` publishes unsent rows in id order, one
batch in flight, waits for every broker acknowledgement, then marks the batch sent. A crash
between publish and mark re-publishes the batch: a duplicate, never a loss (inboxes drop it).

The relay is woken by the commit of a transaction that staged events; besides, it sweeps every
`poll_seconds` (`<PREFIX>_OUTBOX_POLL_SECONDS`, default 5 s) for rows no wake-up announced
(left by a crash, or staged by another replica). The `outbox_backlog` gauge is counted when
/metrics is scraped (chassis.metrics.on_scrape), never on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic.operations import Operations
from sqlalchemy import event
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import Database
from chassis.logging import get_logger
from chassis.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, on_scrape
from chassis.producer import EventProducer, OutgoingRecord
from chassis.telemetry import current_traceparent
from shared_events import Envelope, EventPayload, registry, to_kafka
from shared_events.envelope import encode_data
from shared_events.registry import EventRegistry

log = get_logger(__name__)

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


class OutboxRecord(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        # Only unsent rows are ever scanned; a partial index keeps that cheap as the table grows.
        sa.Index(
            "ix_outbox_unsent",
            "id",
            postgresql_where=sa.text("sent_at IS NULL"),
            sqlite_where=sa.text("sent_at IS NULL"),
        ),
    )

    id: int | None = Field(default=None, sa_column=sa.Column(_BigId, primary_key=True))
    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid(), nullable=False, unique=True))
    topic: str = Field(max_length=200)
    event_type: str = Field(max_length=200)
    subject: str = Field(max_length=200)
    # The Kafka headers (CloudEvents attributes) and the data, each rendered once at write time.
    headers: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    data: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))
    sent_at: datetime | None = Field(
        default=None, sa_column=sa.Column(sa.DateTime(timezone=True), nullable=True)
    )


def create_outbox_table(op: Operations) -> None:
    """Called from each service's first migration."""
    op.create_table(
        "outbox",
        sa.Column("id", _BigId, primary_key=True, autoincrement=True),
        sa.Column("event_id", sa.Uuid(), nullable=False, unique=True),
        sa.Column("topic", sa.String(200), nullable=False),
        sa.Column("event_type", sa.String(200), nullable=False),
        sa.Column("subject", sa.String(200), nullable=False),
        sa.Column("headers", sa.Text(), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
    )
    # Only unsent rows are ever scanned; a partial index keeps that cheap as the table grows.
    op.create_index(
        "ix_outbox_unsent",
        "outbox",
        ["id"],
        postgresql_where=sa.text("sent_at IS NULL"),
        sqlite_where=sa.text("sent_at IS NULL"),
    )


class Outbox:
    """Stages events of one producing service."""

    def __init__(self, source: str, reg: EventRegistry = registry) -> None:
        self.source = source
        self.registry = reg
        self.committed = asyncio.Event()

    def stage(
        self,
        session: AsyncSession,
        payload: EventPayload,
        *,
        subject: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
    ) -> Envelope:
        spec = self.registry.spec_for(type(payload))
        envelope = self.registry.envelope(
            payload,
            subject=subject,
            source=self.source,
            correlation_id=correlation_id,
            causation_id=causation_id,
            traceparent=current_traceparent(),
        )
        value = encode_data(envelope.data)
        session.add(
            OutboxRecord(
                event_id=envelope.id,
                topic=spec.topic,
                event_type=spec.type,
                subject=subject,
                headers=json.dumps([[k, v.decode()] for k, v in to_kafka(envelope, value).headers]),
                data=value.decode(),
                created_at=envelope.time,
            )
        )
        self._wake_relay_after_commit(session)
        return envelope

    def _wake_relay_after_commit(self, session: AsyncSession) -> None:
        if session.info.get("outbox_hooked"):
            return
        session.info["outbox_hooked"] = True
        event.listen(session.sync_session, "after_commit", lambda _: self.committed.set())


_UNSENT_COLUMNS = (
    col(OutboxRecord.id),
    col(OutboxRecord.topic),
    col(OutboxRecord.subject),
    col(OutboxRecord.headers),
    col(OutboxRecord.data),
)


def outgoing(topic: str, subject: str, headers: str, data: str) -> OutgoingRecord:
    """An unsent row as a Kafka record; no model is rebuilt, nothing is encoded twice."""
    return OutgoingRecord(
        topic=topic,
        key=subject.encode(),
        value=data.encode(),
        headers=[(k, v.encode()) for k, v in json.loads(headers)],
    )


class OutboxRelay:
    def __init__(
        self,
        database: Database,
        outbox: Outbox,
        producer: EventProducer,
        *,
        service: str,
        batch_size: int = 200,
        poll_seconds: float = 5.0,  # the sweep; commits wake the relay at once
        max_backoff_seconds: float = 5.0,
    ) -> None:
        self.database = database
        self.outbox = outbox
        self.producer = producer
        self.service = service
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._task: asyncio.Task[None] | None = None

    async def relay_batch(self) -> int:
        """Publish one batch of unsent rows; return how many were published."""
        async with self.database.transaction() as session:
            # Plain columns, not ORM objects: the relay only forwards them.
            connection = await session.connection()
            rows = (
                await connection.execute(
                    sa.select(*_UNSENT_COLUMNS)
                    .where(col(OutboxRecord.sent_at).is_(None))
                    .order_by(col(OutboxRecord.id))
                    .limit(self.batch_size)
                    .with_for_update()  # a second replica waits instead of double-sending
                )
            ).all()
            if not rows:
                return 0
            await self.producer.send_batch([outgoing(*row[1:]) for row in rows])
            await self.mark_sent(session, [row[0] for row in rows])
        EVENTS_PUBLISHED.labels(self.service).inc(len(rows))
        return len(rows)

    async def mark_sent(self, session: AsyncSession, ids: list[int | None]) -> None:
        await session.exec(
            sa.update(OutboxRecord)
            .where(col(OutboxRecord.id).in_(ids))
            .values(sent_at=datetime.now(UTC))
        )

    async def backlog(self) -> int:
        """Count the unsent rows (the partial index ix_outbox_unsent keeps it small) and set
        the gauge. Run when /metrics is scraped, not by the relay loop."""
        async with self.database.engine.connect() as connection:
            count = (
                await connection.execute(
                    sa.select(sa.func.count())
                    .select_from(OutboxRecord)
                    .where(col(OutboxRecord.sent_at).is_(None))
                )
            ).scalar_one()
        OUTBOX_BACKLOG.labels(self.service).set(count)
        return int(count)

    async def run(self) -> None:
        backoff = 0.1
        while True:
            # Cleared before reading, so a commit that lands mid-batch wakes the next round.
            self.outbox.committed.clear()
            try:
                published = await self.relay_batch()
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker or database is down: retry, never drop
                log.warning("outbox relay failed, retrying", error=str(exc), retry_in=backoff)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_seconds)
                continue
            if published >= self.batch_size:
                continue  # a full batch: more may be waiting
            # Idle: sleep until a commit staged events, or until the sweep is due.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.outbox.committed.wait(), self.poll_seconds)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"{self.service}-outbox-relay")
        on_scrape(f"outbox_backlog:{self.service}", self.backlog)

    async def stop(self) -> None:
        on_scrape(f"outbox_backlog:{self.service}", None)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
