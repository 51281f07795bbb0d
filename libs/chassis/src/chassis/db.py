"""The database engine from a URL (PostgreSQL via asyncpg, or SQLite via aiosqlite)."""

from __future__ import annotations

import functools
from collections.abc import AsyncIterator, Hashable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, overload

import asyncpg
import sqlalchemy as sa
from sqlalchemy import event, exc, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine.url import make_url
from sqlalchemy.ext.asyncio import (
    AsyncConnection,
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import Session
from sqlalchemy.pool import ConnectionPoolEntry
from sqlmodel.ext.asyncio.session import AsyncSession


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


@overload
def as_utc(value: datetime) -> datetime: ...
@overload
def as_utc(value: None) -> None: ...
def as_utc(value: datetime | None) -> datetime | None:
    """A timestamp read back from the database, aware in UTC. SQLite hands timestamps back
    without their zone (they were written in UTC); PostgreSQL's `timestamptz` keeps it. None
    (a nullable column) stays None."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def ensure_sqlite_dir(url: str) -> None:
    """SQLite creates the file but not its folder (`.data/` on a fresh clone)."""
    if is_sqlite(url):
        database = make_url(url).database
        if database and database != ":memory:":
            Path(database).parent.mkdir(parents=True, exist_ok=True)


def create_engine(url: str, *, pool_size: int = 10) -> AsyncEngine:
    """One engine (one pool) per process, created in the app lifespan."""
    if is_sqlite(url):
        ensure_sqlite_dir(url)
        engine = create_async_engine(url, connect_args={"timeout": 30}, hide_parameters=True)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # No pre-ping: it cost a BEGIN / SELECT / ROLLBACK round trip before every transaction.
    # A connection the server closed (a restart, pg_terminate_backend) is dropped at checkout
    # by a local check instead (`_drop_closed`); one whose failure went unnoticed fails its
    # first statement, which SQLAlchemy reports as a disconnect and answers by invalidating
    # the whole pool, so the next checkout connects afresh. Callers retry (is_unavailable):
    # consumers wait and retry, the relay retries, an HTTP request gets a 503.
    # asyncpg's statements stay prepared and cached per connection: the dialect's
    # `prepared_statement_cache_size` (100 by default) is left alone.
    # hide_parameters: a statement's error (logged with its traceback) names no value of it
    # (a payment token, an address, a password hash).
    engine = create_async_engine(
        url, pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=False, hide_parameters=True
    )
    event.listen(engine.sync_engine, "checkout", _drop_closed)
    return engine


def _drop_closed(_dbapi_connection: Any, record: ConnectionPoolEntry, _proxy: Any) -> None:
    """Refuse a pooled connection whose socket is already closed, without a round trip: the
    pool then discards it and connects again (SQLAlchemy's checkout protocol). asyncpg notices
    a server's close while the connection sits idle in the pool (it keeps reading)."""
    driver = record.driver_connection
    if driver is not None and driver.is_closed():
        raise exc.DisconnectionError("pooled connection was closed by the server")


def _sqlite_pragmas(dbapi_connection: Any, _: Any) -> None:
    # WAL lets the relay read while a request writes; foreign keys are off by default in SQLite.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


@functools.cache
def _insert_new_statement(table: Any, dialect: str) -> Any:
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(table).on_conflict_do_nothing().returning(*sa.inspect(table).primary_key)


async def insert_new(
    db: AsyncSession | AsyncConnection, table: Any, rows: dict[str, Any] | list[dict[str, Any]]
) -> list[Any]:
    """INSERT ... ON CONFLICT DO NOTHING RETURNING the primary key, on PostgreSQL and SQLite:
    the keys of the rows that went in. On PostgreSQL a concurrent insert of the same key
    waits, then counts as taken.

    The statement is built once per table and dialect and run with the rows as parameters, so
    SQLAlchemy compiles it once; `insert(table).values(rows)` has no cache key and was compiled
    again on every call (the inbox claims of every polled batch), more CPU than the handler."""
    if not rows:
        return []
    connection = db if isinstance(db, AsyncConnection) else await db.connection()
    statement = _insert_new_statement(table, connection.dialect.name)
    return list((await connection.execute(statement, rows)).all())


async def insert_ignore(
    db: AsyncSession | AsyncConnection, table: Any, rows: dict[str, Any] | list[dict[str, Any]]
) -> int:
    """`insert_new`: how many rows went in."""
    return len(await insert_new(db, table, rows))


_ROWS_BEFORE_COMMIT = "rows_before_commit"


async def delete_in_batches(
    database: Database,
    table: sa.Table,
    key: Sequence[sa.ColumnElement[Any]],
    where: sa.ColumnElement[bool],
    *,
    batch_size: int,
    max_batches: int,
) -> int:
    """Delete the rows `where` holds, `batch_size` per transaction (rows another transaction
    has locked are skipped: a replica doing the same, a writer), until a batch comes back short
    or `max_batches` ran; returns how many went."""
    chosen = sa.select(*key).where(where).limit(batch_size).with_for_update(skip_locked=True)
    target = key[0] if len(key) == 1 else sa.tuple_(*key)
    statement = sa.delete(table).where(target.in_(chosen))
    total = 0
    for _ in range(max_batches):
        async with database.transaction() as session:
            deleted = int((await session.exec(statement)).rowcount)
        total += deleted
        if deleted < batch_size:
            break
    return total


def rows_before_commit(session: AsyncSession, statement: Any) -> dict[Hashable, dict[str, Any]]:
    """Rows for `statement`, written together with one executemany just before `session`
    commits; the caller adds a row under its key or adds to the row already there. For a
    counter that every event of a poll bumps (a product's views of the day): one statement for
    the poll instead of one per event, and fewer rows when events share a key. Nothing is
    written when the transaction rolls back; statements of the same transaction do not see
    these rows before the commit."""
    pending: dict[Any, dict[Hashable, dict[str, Any]]] | None = session.info.get(
        _ROWS_BEFORE_COMMIT
    )
    if pending is None:
        pending = session.info[_ROWS_BEFORE_COMMIT] = {}
        sync = session.sync_session
        if not event.contains(sync, "before_commit", _write_rows_before_commit):
            event.listen(sync, "before_commit", _write_rows_before_commit)
            event.listen(sync, "after_rollback", _forget_rows_before_commit)
    return pending.setdefault(statement, {})


def _write_rows_before_commit(session: Session) -> None:
    # Inside the commit's greenlet (SQLAlchemy's asyncio extension): the sync call does not block.
    pending = session.info.pop(_ROWS_BEFORE_COMMIT, None) or {}
    for statement, rows in pending.items():
        if rows:
            session.connection().execute(statement, list(rows.values()))


def _forget_rows_before_commit(session: Session) -> None:
    session.info.pop(_ROWS_BEFORE_COMMIT, None)


class DependencyUnavailable(Exception):
    """A system a use case needs besides the database (a payment provider, ...) cannot answer
    now, after the use case's own retries: waiting cures it, as it cures a database outage.
    A consumer waits and tries the event again without counting attempts (a refund must not
    be dead-lettered because the provider was down for ten seconds); a request gets 503."""


# Failures of the connection to the server, not of the statement: refused or dropped
# connections, a server starting up or shutting down (an administrator's restart).
_OUTAGES: tuple[type[BaseException], ...] = (
    OSError,  # ConnectionRefusedError, ConnectionResetError, ...
    TimeoutError,
    asyncpg.PostgresConnectionError,
    asyncpg.CannotConnectNowError,
    asyncpg.AdminShutdownError,
    asyncpg.CrashShutdownError,
    asyncpg.ConnectionDoesNotExistError,
    exc.DisconnectionError,
)


def is_unavailable(error: BaseException) -> bool:
    """Whether `error` says the database (or a `DependencyUnavailable`) could not be reached
    (an outage, which waiting cures) rather than that the work itself failed; SQLAlchemy's
    wrappers and causes are looked through."""
    reported: BaseException | None = error
    while reported is not None:  # raised, or raised *from*: not an error met while handling one
        if isinstance(reported, DependencyUnavailable):
            return True
        reported = reported.__cause__
    seen: set[int] = set()
    current: BaseException | None = error
    while current is not None and id(current) not in seen:
        seen.add(id(current))
        if isinstance(current, _OUTAGES):
            return True
        if isinstance(current, exc.DBAPIError) and current.connection_invalidated:
            return True
        origin = getattr(current, "orig", None)
        if isinstance(origin, BaseException) and is_unavailable(origin):
            return True
        current = current.__cause__ or current.__context__
    return False


class Database:
    """An engine plus a session factory; `transaction()` is the unit of work, `reads()` a
    session for reads alone, `snapshot()` one for a view read in several statements."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.engine = create_engine(url, pool_size=pool_size)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)
        # The same pool, its connections in autocommit while a read session holds them.
        self._autocommit = self.engine.execution_options(isolation_level="AUTOCOMMIT")
        self._read_sessions = async_sessionmaker(
            self._autocommit, class_=AsyncSession, expire_on_commit=False
        )
        # The same pool again, for reads of several statements that must agree (`snapshot`).
        snapshots = self.engine
        if self.dialect == "postgresql":
            snapshots = self.engine.execution_options(
                isolation_level="REPEATABLE READ", postgresql_readonly=True
            )
        self._snapshot_sessions = async_sessionmaker(
            snapshots, class_=AsyncSession, expire_on_commit=False
        )

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """Commit when the block ends, roll back when it raises."""
        async with self.sessions() as session, session.begin():
            yield session

    @asynccontextmanager
    async def reads(self) -> AsyncIterator[AsyncSession]:
        """A session for a use case that only reads: its statements run outside a transaction,
        so there is no BEGIN and no ROLLBACK round trip around them (a product page's
        availability read: 0.31 instead of 0.50 ms of CPU, one round trip instead of three).
        Each statement sees what is committed when it starts, as each statement of a READ
        COMMITTED transaction would on PostgreSQL. Nothing written through it can be rolled
        back: writes go through `transaction()`."""
        async with self._read_sessions() as session:
            yield session

    @asynccontextmanager
    async def snapshot(self) -> AsyncIterator[AsyncSession]:
        """A session for a read of several statements that must agree with each other (an
        order, its lines, their lots and its timeline): one read-only transaction whose
        statements all see the database as it was at its first one, so a commit landing between
        two of them is seen by neither. `reads()` would show a status from before a commit and
        a timeline from after it. REPEATABLE READ on PostgreSQL; on SQLite an explicit BEGIN
        (the driver opens transactions only for writes), whose read transaction is a snapshot
        in WAL mode. It costs a BEGIN and a COMMIT more than `reads()`."""
        async with self._snapshot_sessions() as session, session.begin():
            if self.dialect == "sqlite":
                await (await session.connection()).exec_driver_sql("BEGIN")
            yield session

    @asynccontextmanager
    async def autocommit(self) -> AsyncIterator[AsyncConnection]:
        """A connection whose statements each commit on their own, with no BEGIN and COMMIT
        round trips around them: for a single statement that needs no transaction of its own
        (the outbox relay marking rows sent)."""
        async with self._autocommit.connect() as connection:
            yield connection

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def dispose(self) -> None:
        await self.engine.dispose()
