"""Transactional outbox: events are rows written in the business transaction, then published
from memory as soon as that transaction commits.

`Outbox.stage()` renders the event once and keeps it on the session; the rows of a transaction
go in with one INSERT just before it commits, so a state change and its events commit together
or not at all. Once it has committed, its records are handed to the service's `OutboxRelay`
from memory, in commit order: no read of the table on the happy path. The relay sends what was
handed over and waits for every broker acknowledgement; the rows of what it sent are marked
sent together, with one UPDATE outside a transaction at most `mark_seconds` after the first of
them went out (`<PREFIX>_OUTBOX_MARK_SECONDS`, default 0.1 s), before any sweep and at stop.

The table remains the truth. The relay sweeps it, in id order, for rows that were committed
but not sent: at start (a crash between commit and send), after a failed send (then it stays
on the table until it is caught up, so per-key order holds), when memory overflows or a COMMIT
failed (the server may have made it, its answer lost: no hand-over, but rows in the table that
later commits of the same keys must not overtake), and every
`poll_seconds` for rows older than that (`<PREFIX>_OUTBOX_POLL_SECONDS`, default 5 s: another
replica's leftovers). A crash between send and mark re-publishes: a duplicate, never a loss
(inboxes drop it); gathering the marks widens that window to `mark_seconds`. The
`outbox_backlog` gauge is counted when /metrics is scraped (chassis.metrics.on_scrape), never
on a timer.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic.operations import Operations
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session
from sqlmodel import Field, SQLModel, col
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.columns import BIG_ID, partial_index, surrogate_key, table_of, utc_timestamp
from chassis.db import Database
from chassis.errors import ProblemError
from chassis.logging import get_logger
from chassis.metrics import EVENTS_PUBLISHED, OUTBOX_BACKLOG, on_scrape
from chassis.producer import EventProducer, OutgoingRecord
from chassis.telemetry import current_traceparent
from shared_events import Envelope, EventPayload, registry, to_kafka
from shared_events.envelope import encode_data
from shared_events.registry import EventRegistry
from shared_events.topics import MAX_RECORD_BYTES

log = get_logger(__name__)


class OutboxRecord(SQLModel, table=True):
    __tablename__ = "outbox"
    __table_args__ = (
        # Only unsent rows are ever scanned; a partial index keeps that cheap as the table grows.
        partial_index("ix_outbox_unsent", "id", where="sent_at IS NULL"),
    )

    id: int | None = surrogate_key()
    event_id: uuid.UUID = Field(sa_column=sa.Column(sa.Uuid(), nullable=False, unique=True))
    topic: str = Field(max_length=200)
    event_type: str = Field(max_length=200)
    subject: str = Field(max_length=200)
    # The Kafka headers (CloudEvents attributes) and the data, each rendered once at write time.
    headers: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    data: str = Field(sa_column=sa.Column(sa.Text, nullable=False))
    created_at: datetime = utc_timestamp()
    sent_at: datetime | None = utc_timestamp(nullable=True)


OUTBOX = table_of(OutboxRecord)  # for Core statements


def create_outbox_table(op: Operations) -> None:
    """Called from each service's first migration."""
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, primary_key=True, autoincrement=True),
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


# A session's staged events: (outbox row, Kafka record), in staging order.
_STAGED = "outbox_staged"
# Set once a transaction's rows are written and its COMMIT is about to be sent.
_COMMITTING = "outbox_committing"
Staged = tuple[dict[str, Any], OutgoingRecord]


class EventTooLarge(ProblemError):
    """A change whose event would be larger than a record may be: 422, nothing written."""

    def __init__(self, event_type: str, size: int) -> None:
        super().__init__(
            422,
            f"the change would publish {event_type} as {size:,} bytes; an event is at most "
            f"{MAX_RECORD_BYTES:,} bytes: make it smaller (fewer or shorter fields)",
            code="event-too-large",
        )


class Outbox:
    """Stages the events of one producing service and hands committed ones to its relay."""

    def __init__(
        self, source: str, reg: EventRegistry = registry, *, max_pending: int = 10_000
    ) -> None:
        self.source = source
        self.registry = reg
        self.max_pending = max_pending  # beyond this, the relay reads them back from the table
        self.pending: list[Staged] = []
        self.overflowed = False
        self.committed = asyncio.Event()

    def stage(
        self,
        session: AsyncSession,
        payload: EventPayload,
        *,
        subject: str,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        older: Sequence[EventPayload] = (),
    ) -> Envelope:
        """Stage `payload`, then each of `older`: the same event in older versions, published
        beside it during a deprecation window. Each is its own record (own event id, same
        subject, correlation and causation) carrying `dataversions`, every version staged, so
        a consumer reads the one written for it and skips its twins. Returns the envelope of
        `payload`. ValueError when an `older` payload is not an older version of the event."""
        versions = self.registry.versions_of(payload, older)
        traceparent = current_traceparent()
        envelope = self._stage_one(
            session, payload, subject, correlation_id, causation_id, traceparent, versions
        )
        for twin in older:
            self._stage_one(
                session, twin, subject, correlation_id, causation_id, traceparent, versions
            )
        return envelope

    def _stage_one(
        self,
        session: AsyncSession,
        payload: EventPayload,
        subject: str,
        correlation_id: str | None,
        causation_id: str | None,
        traceparent: str | None,
        versions: tuple[int, ...] | None,
    ) -> Envelope:
        spec = self.registry.spec_for(type(payload))
        envelope = self.registry.envelope(
            payload,
            subject=subject,
            source=self.source,
            correlation_id=correlation_id,
            causation_id=causation_id,
            traceparent=traceparent,
            dataversions=versions,
        )
        value = encode_data(envelope.data)
        record = to_kafka(envelope, value)
        size = len(value) + len(record.key) + sum(len(k) + len(v) for k, v in record.headers)
        if size > MAX_RECORD_BYTES:
            # Refused now, in the writer's transaction: committed, the broker would refuse it
            # on every try, and the relay, which sends in order, would send nothing after it.
            raise EventTooLarge(spec.type, size)
        row = {
            "event_id": envelope.id,
            "topic": spec.topic,
            "event_type": spec.type,
            "subject": subject,
            "headers": json.dumps([[k, v.decode()] for k, v in record.headers]),
            "data": value.decode(),
            "created_at": envelope.time,
        }
        outgoing_record = OutgoingRecord(spec.topic, record.key, value, list(record.headers))
        self._staged(session).append((row, outgoing_record))
        return envelope

    def _staged(self, session: AsyncSession) -> list[Staged]:
        staged: list[Staged] | None = session.info.get(_STAGED)
        if staged is None:
            staged = session.info[_STAGED] = []
            sync = session.sync_session
            event.listen(sync, "before_commit", _write_rows)
            event.listen(sync, "after_commit", self._hand_over)
            event.listen(sync, "after_rollback", self._forget)
        return staged

    def _hand_over(self, session: Session) -> None:
        """After commit, in the committing task: the records join the relay's queue in commit
        order (transactions on one aggregate lock it, so they commit in causal order)."""
        staged = session.info.pop(_STAGED, None)
        session.info.pop(_COMMITTING, None)
        if not staged:
            return
        if len(self.pending) + len(staged) > self.max_pending:
            self.pending.clear()  # the relay is behind or stopped: it reads them from the table
            self.overflowed = True
        else:
            self.pending.extend(staged)
        self.committed.set()

    def _forget(self, session: Session) -> None:
        """After a rollback. One that follows a failed COMMIT may follow a commit the server
        made (its acknowledgement lost with the connection): those rows are in the table,
        unsent, and later commits of the same keys must not go out before them. The relay is
        sent to the table, in id order, before it sends anything more from memory."""
        staged = session.info.pop(_STAGED, None)
        if session.info.pop(_COMMITTING, False) and staged:
            self.overflowed = True
            self.committed.set()

    def take(self) -> list[Staged]:
        pending, self.pending = self.pending, []
        return pending


def _write_rows(session: Session) -> None:
    """Before commit: the transaction's outbox rows in one executemany INSERT. SQLAlchemy's
    asyncio extension runs this inside the commit's greenlet, so the sync call is non-blocking.
    """
    staged: list[Staged] | None = session.info.get(_STAGED)
    if staged:
        session.connection().execute(sa.insert(OUTBOX), [row for row, _ in staged])
        session.info[_COMMITTING] = True  # the COMMIT goes next: from here, it may land


_UNSENT_COLUMNS = (
    col(OutboxRecord.id),
    col(OutboxRecord.event_id),
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
        poll_seconds: float = 5.0,  # the sweep; commits hand their records over at once
        mark_seconds: float = 0.1,
        max_backoff_seconds: float = 5.0,
    ) -> None:
        self.database = database
        self.outbox = outbox
        self.producer = producer
        self.service = service
        self.batch_size = batch_size
        self.poll_seconds = poll_seconds
        self.mark_seconds = mark_seconds
        self.max_backoff_seconds = max_backoff_seconds
        self._task: asyncio.Task[None] | None = None
        # The event ids of the last sweep's batch. A commit that lands while a sweep reads the
        # table is both read by the sweep and handed over from memory a moment later; those
        # records are dropped from memory instead of being published twice.
        self._swept: set[uuid.UUID] = set()
        # Sent from memory, rows not yet marked (`mark_published`), and when they are due.
        self._unmarked: list[uuid.UUID] = []
        self._mark_due: float | None = None
        # Set by `stop`: the run loop publishes what is handed over, then returns when idle.
        self._stopping = False

    async def relay_batch(self, *, older_than: float | None = None) -> int:
        """Sweep: publish one batch of unsent rows from the table, in id order (only rows older
        than `older_than` seconds, if given); return how many were published."""
        query = (
            sa.select(*_UNSENT_COLUMNS)
            .where(col(OutboxRecord.sent_at).is_(None))
            .order_by(col(OutboxRecord.id))
            .limit(self.batch_size)
            .with_for_update()  # a second replica's sweep waits instead of double-sending
        )
        if older_than is not None:
            cutoff = datetime.now(UTC) - timedelta(seconds=older_than)
            query = query.where(col(OutboxRecord.created_at) < cutoff)
        async with self.database.transaction() as session:
            # Plain columns, not ORM objects: the relay only forwards them.
            connection = await session.connection()
            rows = (await connection.execute(query)).all()
            self._swept = {row[1] for row in rows}
            if not rows:
                return 0
            await self.producer.send_batch([outgoing(*row[2:]) for row in rows])
            await self.mark_sent(connection, OUTBOX.c.id.in_([row[0] for row in rows]))
        EVENTS_PUBLISHED.labels(self.service).inc(len(rows))
        return len(rows)

    async def publish(self, staged: list[Staged]) -> None:
        """Publish records handed over by commits. Their rows are marked sent later, by
        `mark_published`: the run loop calls it once `mark_seconds` have passed."""
        if self._swept:
            staged = [item for item in staged if item[0]["event_id"] not in self._swept]
            if not staged:
                return
        await self.producer.send_batch([record for _, record in staged])
        EVENTS_PUBLISHED.labels(self.service).inc(len(staged))
        self._unmarked.extend(row["event_id"] for row, _ in staged)
        if self._mark_due is None:
            self._mark_due = asyncio.get_running_loop().time() + self.mark_seconds

    async def mark_published(self) -> None:
        """Mark the rows of everything `publish` sent since the last call, in one UPDATE."""
        if self._unmarked:
            async with self.database.autocommit() as connection:
                await self.mark_sent(connection, OUTBOX.c.event_id.in_(self._unmarked))
        self._unmarked = []
        self._mark_due = None

    def _marks_due(self, now: float) -> bool:
        return self._mark_due is not None and now >= self._mark_due

    async def mark_sent(self, connection: AsyncConnection, rows: sa.ColumnElement[bool]) -> None:
        await connection.execute(sa.update(OUTBOX).where(rows).values(sent_at=datetime.now(UTC)))

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
        loop = asyncio.get_running_loop()
        backoff = 0.1
        caught_up = False  # until a sweep finds the table empty, the table is the queue
        next_sweep = loop.time() + self.poll_seconds
        while True:
            try:
                if self._marks_due(loop.time()) or (
                    self._unmarked and (not caught_up or self.outbox.overflowed)
                ):
                    # Before a sweep too, which would otherwise read them as unsent.
                    await self.mark_published()
                elif not caught_up or self.outbox.overflowed:
                    # What was handed over is in the table too, in id order: read it from there.
                    self.outbox.overflowed = False
                    self.outbox.take()
                    caught_up = await self.relay_batch() < self.batch_size
                elif staged := self.outbox.take():
                    await self.publish(staged)
                elif loop.time() >= next_sweep and not self._unmarked and not self._stopping:
                    # Rows no commit of this process handed over: another replica's leftovers.
                    while await self.relay_batch(older_than=self.poll_seconds) >= self.batch_size:
                        pass
                    next_sweep = loop.time() + self.poll_seconds
                elif self._stopping:
                    return  # everything handed over is published; `stop` marks it
                else:
                    # Idle: sleep until a commit hands records over, or marks or the sweep are due.
                    self.outbox.committed.clear()
                    if not self.outbox.pending:
                        wake = next_sweep if self._mark_due is None else self._mark_due
                        with contextlib.suppress(TimeoutError):
                            await asyncio.wait_for(self.outbox.committed.wait(), wake - loop.time())
                backoff = 0.1
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the broker or database is down: retry, never drop
                log.warning("outbox relay failed, retrying", error=str(exc), retry_in=backoff)
                caught_up = False  # what failed is in the table: resend from there, in order
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, self.max_backoff_seconds)

    def start(self) -> None:
        if self._task is None or self._task.done():
            self._task = asyncio.create_task(self.run(), name=f"{self.service}-outbox-relay")
        on_scrape(f"outbox_backlog:{self.service}", self.backlog)

    async def stop(self, drain_seconds: float = 5.0) -> None:
        """Publish what commits have handed over, letting a send in flight finish (at most
        `drain_seconds`: past that, or with the broker down, the rest stays in the table for
        the next start's sweep), then mark it all sent. Called once nothing commits any more
        (the consumers and requests have stopped), so a deploy's last events go out now, not
        after the restart, and none goes out twice."""
        on_scrape(f"outbox_backlog:{self.service}", None)
        task, self._task = self._task, None
        if task is not None:
            self._stopping = True
            self.outbox.committed.set()  # wake an idle loop
            try:
                await asyncio.wait_for(task, drain_seconds)  # cancels it when time is up
            except TimeoutError:
                log.warning("outbox relay stopped before it had published everything")
            finally:
                self._stopping = False
        try:
            await self.mark_published()  # or a restart would publish them again
        except Exception as exc:  # the database is down: the restart's sweep re-publishes
            log.warning("outbox rows left unmarked at stop", error=str(exc))
