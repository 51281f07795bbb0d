"""Idempotency-Key records in the service's database (chassis.idempotency_db), on real
PostgreSQL, and on SQLite for the dialect's own statements."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import Database
from chassis.errors import ConcurrentChange, ProblemError
from chassis.idempotency import fingerprint
from chassis.idempotency_db import (
    DatabaseIdempotency,
    IdempotencyRecord,
    _Key,
    _store,
    delete_expired,
)
from chassis.rules import RuleError
from chassis.testing.infra import DatabaseFactory

from .conftest import effects, effects_metadata

pytestmark = pytest.mark.integration

RECORDS: sa.Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]


class Made(BaseModel):
    id: str
    quantity: int


class Order(BaseModel):
    quantity: int


async def _create(db: Database) -> Database:
    async with db.engine.begin() as conn:
        await conn.run_sync(lambda c: IdempotencyRecord.metadata.create_all(c, tables=[RECORDS]))
        await conn.run_sync(effects_metadata.create_all)
    return db


@pytest.fixture
async def database(create_database: DatabaseFactory) -> AsyncIterator[Database]:
    db = await _create(Database(await create_database("idempotency")))
    yield db
    await db.dispose()


def writer(
    subject: str, *, pause: float = 0.0, fail: ProblemError | RuleError | None = None
) -> Callable[[Order], Callable[[AsyncSession], Awaitable[Made]]]:
    """An operation that writes one effect row under `subject` in the given session."""

    def operation(body: Order) -> Callable[[AsyncSession], Awaitable[Made]]:
        async def run(session: AsyncSession) -> Made:
            made = str(uuid.uuid4())
            await session.exec(  # type: ignore[call-overload]
                sa.insert(effects).values(event_id=made, subject=subject)
            )
            if pause:
                await asyncio.sleep(pause)
            if fail is not None:
                raise fail
            return Made(id=made, quantity=body.quantity)

        return run

    return operation


def hashed(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def written(db: Database, subject: str) -> int:
    async with db.engine.connect() as conn:
        query = sa.select(sa.func.count()).select_from(effects).where(effects.c.subject == subject)
        return int((await conn.execute(query)).scalar_one())


async def place(
    store: DatabaseIdempotency,
    key: str | None,
    body: Order,
    operation: Callable[[Order], Callable[[AsyncSession], Awaitable[Made]]],
) -> JSONResponse:
    return await store.run(
        scope="member-1", key=key, body=body, status_code=201, operation=operation(body)
    )


async def age(db: Database, hours: int) -> None:
    async with db.transaction() as session:
        await session.exec(  # type: ignore[call-overload]
            sa.update(RECORDS).values(created_at=datetime.now(UTC) - timedelta(hours=hours))
        )


async def replays_and_refuses_another_body(db: Database) -> None:
    store, subject = DatabaseIdempotency(db), str(uuid.uuid4())
    first = await place(store, "k-1", Order(quantity=2), writer(subject))
    again = await place(store, "k-1", Order(quantity=2), writer(subject))
    assert first.status_code == again.status_code == 201
    assert again.body == first.body and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    with pytest.raises(ProblemError) as reused:
        await place(store, "k-1", Order(quantity=5), writer(subject))
    assert (reused.value.status, reused.value.code) == (422, "idempotency-key-reused")
    # Another caller's key of the same name is another key.
    other = await store.run(
        scope="member-2",
        key="k-1",
        body=Order(quantity=5),
        status_code=201,
        operation=writer(subject)(Order(quantity=5)),
    )
    assert other.status_code == 201 and "idempotent-replayed" not in other.headers
    # The retries' own writes were rolled back: one effect per key.
    assert await written(db, subject) == 2


async def test_same_body_replays_another_body_is_422(database: Database) -> None:
    await replays_and_refuses_another_body(database)


async def test_sqlite_too(tmp_path: Path) -> None:
    db = await _create(Database(f"sqlite+aiosqlite:///{tmp_path / 'idem.db'}"))
    try:
        await replays_and_refuses_another_body(db)
        await age(db, 25)
        subject = str(uuid.uuid4())
        fresh = await place(DatabaseIdempotency(db), "k-1", Order(quantity=7), writer(subject))
        assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
        await age(db, 25)
        assert await delete_expired(db) == 2
    finally:
        await db.dispose()


@pytest.mark.parametrize(
    ("refusal", "extra"),
    [
        (ProblemError(409, "out of stock", code="sold-out", sku="TEA-1"), {"sku": "TEA-1"}),
        # A use case lets its domain's RuleError through (no conversion by hand): the store
        # keeps it as the problem it is answered with.
        (RuleError("sold-out", "out of stock", status=409), {}),
    ],
    ids=["problem", "domain-rule"],
)
async def test_a_stored_refusal_is_replayed_even_if_the_retry_would_succeed(
    database: Database, refusal: ProblemError | RuleError, extra: dict[str, str]
) -> None:
    store, subject = DatabaseIdempotency(database), str(uuid.uuid4())
    with pytest.raises(type(refusal)) as first:
        await place(store, "k-2", Order(quantity=1), writer(subject, fail=refusal))
    assert first.value is refusal
    with pytest.raises(ProblemError) as again:
        await place(store, "k-2", Order(quantity=1), writer(subject))
    replayed = again.value
    assert (replayed.status, replayed.code, replayed.detail) == (409, "sold-out", "out of stock")
    assert replayed.extra == extra
    assert replayed.headers == {"Idempotent-Replayed": "true"}
    assert await written(database, subject) == 0


async def test_a_transient_conflict_is_not_stored_and_the_retry_runs_again(
    database: Database,
) -> None:
    """`ConcurrentChange` says "try again": a retry under the key must run, not be told so for
    a day."""
    store, subject = DatabaseIdempotency(database), str(uuid.uuid4())
    with pytest.raises(ConcurrentChange):
        await place(
            store, "k-4", Order(quantity=1), writer(subject, fail=ConcurrentChange("changed"))
        )
    retried = await place(store, "k-4", Order(quantity=1), writer(subject))
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert await written(database, subject) == 1


async def test_server_errors_are_not_stored(database: Database) -> None:
    store, subject = DatabaseIdempotency(database), str(uuid.uuid4())
    outage = ProblemError(503, "try later", code="unavailable")
    with pytest.raises(ProblemError):
        await place(store, "k-3", Order(quantity=1), writer(subject, fail=outage))
    retried = await place(store, "k-3", Order(quantity=1), writer(subject))
    assert retried.status_code == 201 and "idempotent-replayed" not in retried.headers
    assert await written(database, subject) == 1


async def test_a_retry_while_the_first_is_open_is_409_and_writes_nothing(
    database: Database,
) -> None:
    store, subject = DatabaseIdempotency(database), str(uuid.uuid4())
    key = _Key("member-1", hashed("k-4"), fingerprint(Order(quantity=1)))
    # The first request has claimed its key and not committed yet.
    async with database.transaction() as first:
        assert await _store(first, key, 201, body={"id": "a"}) == (True, True)
        started = asyncio.get_running_loop().time()
        with pytest.raises(ProblemError) as busy:
            await place(store, "k-4", Order(quantity=1), writer(subject))
        # At once: the advisory lock is tried, never waited for.
        assert asyncio.get_running_loop().time() - started < 2.0
        assert (busy.value.status, busy.value.code) == (409, "idempotency-busy")
    again = await place(store, "k-4", Order(quantity=1), writer(subject))
    assert again.headers["idempotent-replayed"] == "true" and again.body == b'{"id":"a"}'
    assert await written(database, subject) == 0


async def test_concurrent_duplicates_write_once(database: Database) -> None:
    store, subject = DatabaseIdempotency(database), str(uuid.uuid4())
    slow = writer(subject, pause=0.05)
    answers = await asyncio.gather(
        *(place(store, "k-5", Order(quantity=3), slow) for _ in range(8)),
        return_exceptions=True,
    )
    assert await written(database, subject) == 1
    bodies = {a.body for a in answers if isinstance(a, JSONResponse)}
    assert len(bodies) == 1, answers  # the first response, or its replay
    assert (
        sum(isinstance(a, JSONResponse) and "idempotent-replayed" not in a.headers for a in answers)
        == 1
    )
    refused = [a for a in answers if not isinstance(a, JSONResponse)]
    assert all(isinstance(a, ProblemError) and a.code == "idempotency-busy" for a in refused)


async def test_keys_expire_after_a_day(database: Database) -> None:
    store, subject = DatabaseIdempotency(database), str(uuid.uuid4())
    await place(store, "k-6", Order(quantity=1), writer(subject))
    await age(database, 23)
    with pytest.raises(ProblemError):  # still live at 23 h
        await place(store, "k-6", Order(quantity=2), writer(subject))
    await age(database, 25)
    # Expired: ignored on read, and the key is free for a new request (another body is fine).
    assert await store.lookup("member-1", hashed("k-6")) is None
    fresh = await place(store, "k-6", Order(quantity=2), writer(subject))
    assert fresh.status_code == 201 and "idempotent-replayed" not in fresh.headers
    assert await written(database, subject) == 2
    # The periodic job deletes expired rows in batches, and only those.
    await place(store, "k-7", Order(quantity=1), writer(subject))
    await age(database, 25)
    await place(store, "k-8", Order(quantity=1), writer(subject))
    assert await delete_expired(database, batch_size=1) == 2
    async with database.engine.connect() as conn:
        left = (await conn.execute(sa.select(RECORDS.c.key_hash))).scalars().all()
    assert left == [hashed("k-8")]


async def test_one_expiry_round_keeps_up_with_more_keys_than_ten_thousand(
    database: Database,
) -> None:
    """The job's round goes on until a batch comes back short (the retention jobs' limits): at
    10 batches of 1,000 per 600 s, keys made faster than 16.7 a second piled up for ever."""
    expired = datetime.now(UTC) - timedelta(hours=25)
    async with database.transaction() as session:
        await session.exec(  # type: ignore[call-overload]
            sa.text(
                "INSERT INTO idempotency_keys"
                " (scope, key_hash, fingerprint, status, created_at)"
                " SELECT 'bulk', md5(n::text), 'f', 201, :expired"
                " FROM generate_series(1, 10500) AS n"
            ).bindparams(expired=expired)
        )
    assert await delete_expired(database) == 10_500
    async with database.engine.connect() as conn:
        assert (await conn.execute(sa.select(sa.func.count()).select_from(RECORDS))).scalar() == 0
