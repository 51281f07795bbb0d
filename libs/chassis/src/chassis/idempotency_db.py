"""HTTP idempotency keys stored in the service's own database, in the transaction of the write.

The same Stripe semantics as `chassis.idempotency` (the Redis store), but the record of a key
commits in the very transaction that does the work: a crash can never leave the write without
its key, nor a key without its write, and a key costs one statement inside that transaction
instead of two Redis round trips around it.

- The first response to `(scope, Idempotency-Key)` is replayed for `ttl_seconds` (24 h) to any
  retry with the same body, with `Idempotent-Replayed: true`; a stored 4xx problem too.
- The same key with another body is 422 `idempotency-key-reused`.
- A retry while the first request is still running is 409 `idempotency-busy`.
- Server errors (5xx) are not stored: the client may retry them.

How: the operation runs first, in the transaction `run()` opens; then one statement claims the
key and stores the response together (`_store`). If the key already has a live record, that
statement stores nothing and the transaction is rolled back, so the retry's own work vanishes
and the stored response is answered instead. A refused request (4xx) rolls its work back and
its problem is stored in a transaction of its own (there is nothing else to commit beside it).
Whatever a retry itself would answer, a live record of its key wins.

So the operation must write only through the session it is given (no Redis, no HTTP call, no
event outside the outbox): a retry runs it again inside a transaction that is then rolled
back. That is the price of the one statement; it is paid only by retries.

Concurrency on PostgreSQL: two transactions inserting the same key meet on the primary key, and
the second would wait there until the first commits (then replay) or rolls back. Instead, the
claim first tries a transaction-scoped advisory lock on the key (`pg_try_advisory_xact_lock`,
in the same statement, so no extra round trip), which fails at once while another transaction
holding the key is open: 409 `idempotency-busy`. Every writer of the table takes that lock
before inserting, so the insert itself never waits on another claim of its key. (A retry
that reaches its claim only after the first request committed gets the replay; one racing it
with another body gets the 409, as nothing of the first is visible yet.) The
alternative, `SET LOCAL lock_timeout` before the insert, costs one more statement, answers
only after the timeout (a retry waits that long for its 409), and bounds every later lock wait
of the transaction too. Measured on local PostgreSQL with the key held by an open
transaction: the retry's whole transaction answered busy in 4 ms with the try-lock, in 54 ms
with `lock_timeout = '50ms'` (206 ms with 200 ms). On SQLite writers are serialised anyway:
the second one waits for the first to commit and then gets the replay.

Expiry: a record older than `ttl_seconds` is ignored when read and overwritten by the next
claim of its key (an upsert whose `WHERE` only lets an expired row be replaced);
`delete_expired()` removes them in batches, run by `expiry_job()` (a chassis `Job`).

Tables: `create_idempotency_table(op)` in a migration of the service.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from alembic.operations import Operations
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.dialects import sqlite
from sqlmodel import Field, SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import Database, as_utc, delete_in_batches
from chassis.errors import ProblemError, as_problem, kept_with_key
from chassis.idempotency import DAY, MAX_KEY_LENGTH, fingerprint
from chassis.locks import lock_key
from chassis.retention import RETENTION_BATCH, RETENTION_MAX_BATCHES
from chassis.rules import RuleError

if TYPE_CHECKING:
    from chassis.app import Job
    from chassis.runtime import AnyRuntime

TABLE = "idempotency_keys"
REPLAYED = {"Idempotent-Replayed": "true"}


class IdempotencyRecord(SQLModel, table=True):
    """The first response to one `(scope, key)`: a 2xx body or a 4xx problem, as JSON."""

    __tablename__ = TABLE
    __table_args__ = (sa.Index(f"ix_{TABLE}_created_at", "created_at"),)

    scope: str = Field(primary_key=True, max_length=200)
    # sha256 of the key as sent: the key itself is never stored.
    key_hash: str = Field(primary_key=True, max_length=64)
    # sha256 of the request body (chassis.idempotency.fingerprint).
    fingerprint: str = Field(max_length=64)
    status: int
    body: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    problem: str | None = Field(default=None, sa_column=sa.Column(sa.Text, nullable=True))
    created_at: datetime = Field(sa_column=sa.Column(sa.DateTime(timezone=True), nullable=False))


_T: sa.Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]


def create_idempotency_table(op: Operations) -> None:
    """Called from a migration of each service that keeps its keys in its database."""
    op.create_table(
        TABLE,
        sa.Column("scope", sa.String(200), primary_key=True),
        sa.Column("key_hash", sa.String(64), primary_key=True),
        sa.Column("fingerprint", sa.String(64), nullable=False),
        sa.Column("status", sa.Integer(), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("problem", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    # The expiry job scans by age.
    op.create_index(f"ix_{TABLE}_created_at", TABLE, ["created_at"])


def drop_idempotency_table(op: Operations) -> None:
    op.drop_index(f"ix_{TABLE}_created_at", TABLE)
    op.drop_table(TABLE)


class _Key(NamedTuple):
    scope: str
    key_hash: str
    fingerprint: str

    @property
    def lock_id(self) -> int:
        """The advisory lock of this key: 64 bits of a hash, signed as PostgreSQL's bigint."""
        return lock_key(f"{TABLE}\0{self.scope}\0{self.key_hash}")


class _Taken(Exception):
    """The key already has a record (or is held by a running request): roll back, answer it."""

    def __init__(self, held: bool) -> None:
        super().__init__("idempotency key taken")
        self.held = held


def _dialect(session: AsyncSession) -> str:
    return session.bind.dialect.name if session.bind is not None else "postgresql"


# One statement, written out once: building it from constructs cost ~4 ms of CPU per order
# (a CTE's cache key is generated again on every execution); text is keyed by its string.
_CLAIM_ON_POSTGRESQL = sa.text(
    """
    WITH lock AS (SELECT pg_try_advisory_xact_lock(CAST(:lock_id AS bigint)) AS held),
    stored AS (
        INSERT INTO idempotency_keys
            (scope, key_hash, fingerprint, status, body, problem, created_at)
        SELECT CAST(:scope AS varchar), CAST(:key_hash AS varchar), CAST(:fingerprint AS varchar),
               CAST(:status AS integer), CAST(:body AS text), CAST(:problem AS text),
               CAST(:created_at AS timestamptz)
        FROM lock WHERE held
        ON CONFLICT (scope, key_hash) DO UPDATE SET
            fingerprint = EXCLUDED.fingerprint, status = EXCLUDED.status,
            body = EXCLUDED.body, problem = EXCLUDED.problem, created_at = EXCLUDED.created_at
        WHERE idempotency_keys.created_at < CAST(:cutoff AS timestamptz)
        RETURNING 1
    )
    SELECT held, EXISTS (SELECT 1 FROM stored) FROM lock
    """
)

# What an upsert over an expired record replaces: all but the key.
_REPLACED = ("fingerprint", "status", "body", "problem", "created_at")


async def _store(
    session: AsyncSession,
    key: _Key,
    status: int,
    *,
    body: dict[str, Any] | None = None,
    problem: dict[str, Any] | None = None,
    ttl_seconds: int = DAY,
) -> tuple[bool, bool]:
    """Claim `key` and store its response, in one statement of the caller's transaction.

    Returns `(held, stored)`: held is False when another open transaction holds the key
    (PostgreSQL only); stored is False when the key already has a live record.
    """
    now = datetime.now(UTC)
    values = {
        "scope": key.scope,
        "key_hash": key.key_hash,
        "fingerprint": key.fingerprint,
        "status": status,
        "body": None if body is None else json.dumps(body),
        "problem": None if problem is None else json.dumps(problem),
        "created_at": now,
    }
    # Only an expired record may be replaced; a live one makes the upsert store nothing.
    expired = _T.c.created_at < now - timedelta(seconds=ttl_seconds)
    if _dialect(session) != "postgresql":
        # SQLite: one writer at a time; a second claim waits for the first to commit.
        insert = sqlite.insert(_T).values(values)
        upsert = insert.on_conflict_do_update(
            index_elements=["scope", "key_hash"],
            set_={name: insert.excluded[name] for name in _REPLACED},
            where=expired,
        ).returning(sa.literal(1))
        return True, (await session.exec(upsert)).first() is not None
    # The lock CTE (volatile, so evaluated once, before the insert reads from it) keeps a
    # second claim of the same key from waiting on the first one's uncommitted row.
    connection = await session.connection()
    claim = await connection.execute(
        _CLAIM_ON_POSTGRESQL,
        {**values, "lock_id": key.lock_id, "cutoff": now - timedelta(seconds=ttl_seconds)},
    )
    held, was_stored = claim.one()
    return bool(held), bool(was_stored)


class DatabaseIdempotency:
    """Runs an operation once per key, in a transaction of `database` that also holds the key."""

    def __init__(self, database: Database, *, ttl_seconds: int = DAY) -> None:
        self.database = database
        self.ttl_seconds = ttl_seconds

    async def run(
        self,
        *,
        scope: str,
        key: str | None,
        body: BaseModel,
        status_code: int,
        operation: Callable[[AsyncSession], Awaitable[BaseModel]],
    ) -> JSONResponse:
        """Run `operation(session)` in one transaction; with a key, store its response in that
        same transaction, or answer a retry from the stored response. `operation` must write
        only through `session` (see the module's docstring)."""
        if key is None:
            async with self.database.transaction() as session:
                result = await operation(session)
            return JSONResponse(result.model_dump(mode="json"), status_code)
        if not 0 < len(key) <= MAX_KEY_LENGTH:
            raise ProblemError(
                400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters", code="bad-key"
            )
        claim = _Key(scope, hashlib.sha256(key.encode()).hexdigest(), fingerprint(body))
        try:
            async with self.database.transaction() as session:
                payload = (await operation(session)).model_dump(mode="json")
                held, stored = await _store(
                    session, claim, status_code, body=payload, ttl_seconds=self.ttl_seconds
                )
                if not stored:
                    raise _Taken(held)  # rolls the retry's own work back
        except _Taken as taken:
            return await self._answer(claim, taken.held)
        except (ProblemError, RuleError) as refused:
            problem = as_problem(refused)
            if not kept_with_key(problem):
                raise
            # The refused work is rolled back already: the problem is all there is to commit.
            refusal = {"detail": problem.detail, "code": problem.code, "title": problem.title}
            async with self.database.transaction() as session:
                held, stored = await _store(
                    session,
                    claim,
                    problem.status,
                    problem={**refusal, **problem.extra},
                    ttl_seconds=self.ttl_seconds,
                )
            if not stored:
                return await self._answer(claim, held)
            raise
        return JSONResponse(payload, status_code)

    async def _answer(self, claim: _Key, held: bool) -> JSONResponse:
        """The key was taken: replay its record, or say why not."""
        if not held:
            raise ProblemError(
                409, "a request with this Idempotency-Key is in progress", code="idempotency-busy"
            )
        record = await self.lookup(claim.scope, claim.key_hash)
        if record is None:  # expired and removed since the claim: rare, and safe to retry
            raise ProblemError(409, "retry the request", code="idempotency-retry")
        if record.fingerprint != claim.fingerprint:
            raise ProblemError(
                422,
                "this Idempotency-Key was used with a different request body",
                code="idempotency-key-reused",
            )
        if record.problem is not None:
            problem = json.loads(record.problem)
            raise ProblemError(
                record.status,
                problem.pop("detail"),
                code=problem.pop("code"),
                title=problem.pop("title", None),
                headers=dict(REPLAYED),
                **problem,
            )
        return JSONResponse(json.loads(record.body or "null"), record.status, headers=REPLAYED)

    async def lookup(self, scope: str, key_hash: str) -> IdempotencyRecord | None:
        """The live record of a key, if any; an expired one is ignored."""
        cutoff = datetime.now(UTC) - timedelta(seconds=self.ttl_seconds)
        async with self.database.sessions() as session:
            record = await session.get(IdempotencyRecord, (scope, key_hash))
        if record is None:
            return None
        return record if as_utc(record.created_at) >= cutoff else None


async def delete_expired(
    database: Database,
    *,
    ttl_seconds: int = DAY,
    batch_size: int = RETENTION_BATCH,
    max_batches: int = RETENTION_MAX_BATCHES,
) -> int:
    """Delete records older than `ttl_seconds`, `batch_size` rows per short transaction (a
    claim of an expired key waits at most for one batch), until a batch comes back short;
    returns how many went. The retention jobs' limits, so one round keeps up with any rate of
    keyed writes (10 batches of 1,000 per 600 s fell behind past 16.7 a second)."""
    cutoff = datetime.now(UTC) - timedelta(seconds=ttl_seconds)
    key = (_T.c.scope, _T.c.key_hash)
    return await delete_in_batches(
        database, _T, key, _T.c.created_at < cutoff, batch_size=batch_size, max_batches=max_batches
    )


def idempotency_records(runtime: AnyRuntime) -> DatabaseIdempotency:
    """The service's keys, in its own database (table `idempotency_keys`)."""
    return DatabaseIdempotency(runtime.database)


def expiry_job(every_seconds: float = 600.0, *, ttl_seconds: int = DAY) -> Job:
    """The periodic removal of expired keys, for a service's `jobs`."""
    from chassis.app import Job  # the app imports everything; this module stays light

    async def expire(runtime: AnyRuntime) -> int:
        return await delete_expired(runtime.database, ttl_seconds=ttl_seconds)

    return Job("idempotency-expiry", every_seconds, expire)
