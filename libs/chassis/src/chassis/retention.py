"""Retention of the chassis' own tables: once a row has done its job, it goes.

Without it the inbox and the outbox grow with every event for as long as a service runs (about
nine inbox rows and seven outbox rows a confirmed order), and the inbox's primary key, random
UUIDs, grows past what stays in memory: every claim on the hot path gets slower with age.

- **Inbox**: a row drops redeliveries of one event. It is kept `inbox_keep_days` (31), which
  the settings hold above the longest retention of a topic (the dead letters' 30 days). A
  record can still come back later than that (a dead letter replayed weeks after its event,
  then re-read from its topic; Kafka deletes whole segments, so records outlive their
  retention): the consumer dead-letters a record whose event is older than the window less a
  day (`chassis.consumer`), since the inbox may have forgotten it, rather than apply it twice.
  A B-tree index on `processed_at` finds the old rows without reading the table (its inserts
  land on its right edge: 0.4 µs a row).
- **Outbox**: a sent row has no use left (the broker holds the event for its topic's
  retention); it is kept `outbox_keep_sent_hours` (1) after it was both staged and sent, then
  deleted. An unsent row is never deleted. The old rows are found through the primary key:
  walking it back from the newest row over the kept window gives the newest old id, and the
  sent rows below it that were sent before the cutoff go.

Each service with consumers or publications runs the jobs a minute after it starts, then every
`retention_check_seconds` (600): `RETENTION_BATCH` rows per short transaction (other writers
wait at most for one batch; replicas skip each other's rows), until a batch comes back short,
or `RETENTION_MAX_BATCHES` (5 million rows, about 45 s) in one round.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from chassis.db import Database, delete_in_batches
from chassis.inbox import INBOX
from chassis.logging import get_logger
from chassis.outbox import OUTBOX

log = get_logger(__name__)

RETENTION_FIRST_AFTER_SECONDS = 60.0
RETENTION_BATCH = 5_000
RETENTION_MAX_BATCHES = 1_000


async def delete_old_inbox_rows(
    database: Database,
    *,
    keep: timedelta,
    batch_size: int = RETENTION_BATCH,
    max_batches: int = RETENTION_MAX_BATCHES,
) -> int:
    """The inbox rows of events handled longer than `keep` ago."""
    cutoff = datetime.now(UTC) - keep
    key = (INBOX.c.consumer, INBOX.c.event_id)
    where = INBOX.c.processed_at < cutoff
    deleted = await delete_in_batches(
        database, INBOX, key, where, batch_size=batch_size, max_batches=max_batches
    )
    if deleted:
        log.info("inbox rows deleted", rows=deleted, older_than=cutoff.isoformat())
    return deleted


# The newest row staged before the cutoff: the primary key walked back from the newest row,
# so only the kept window's rows are read.
_NEWEST_OLD = (
    sa.select(OUTBOX.c.id)
    .where(OUTBOX.c.created_at < sa.bindparam("cutoff"))
    .order_by(OUTBOX.c.id.desc())
    .limit(1)
)


async def delete_sent_outbox_rows(
    database: Database,
    *,
    keep: timedelta,
    batch_size: int = RETENTION_BATCH,
    max_batches: int = RETENTION_MAX_BATCHES,
) -> int:
    """The outbox rows sent and staged longer than `keep` ago; unsent rows stay."""
    cutoff = datetime.now(UTC) - keep
    async with database.autocommit() as connection:
        newest_old = (await connection.execute(_NEWEST_OLD, {"cutoff": cutoff})).scalar()
    if newest_old is None:
        return 0
    sent_and_old = sa.and_(OUTBOX.c.id <= newest_old, OUTBOX.c.sent_at < cutoff)
    deleted = await delete_in_batches(
        database,
        OUTBOX,
        (OUTBOX.c.id,),
        sent_and_old,
        batch_size=batch_size,
        max_batches=max_batches,
    )
    if deleted:
        log.info("sent outbox rows deleted", rows=deleted, older_than=cutoff.isoformat())
    return deleted
