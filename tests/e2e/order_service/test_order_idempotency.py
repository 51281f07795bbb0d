"""POST /orders with an Idempotency-Key, on real PostgreSQL: the key is stored in the order
database, in the order's own transaction (chassis.idempotency_db), never in Redis."""

from __future__ import annotations

import asyncio
import uuid
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncEngine

from chassis.idempotency_db import IdempotencyRecord, delete_expired

from .conftest import Shop
from .test_order_service import order_body, publish_product, wait_for_sale

pytestmark = pytest.mark.integration

RECORDS: sa.Table = IdempotencyRecord.__table__  # type: ignore[attr-defined]


async def orders_of(shop: Shop, member: dict[str, str]) -> int:
    listed = (await shop.order.get("/api/v1/orders", headers=member)).json()
    return int(listed["total"])


async def test_a_refusal_is_stored_and_replayed(shop: Shop) -> None:
    member = shop.member()
    sku = await publish_product(shop)
    await wait_for_sale(shop, sku, member)
    key = {"Idempotency-Key": str(uuid.uuid4()), **member}
    body = order_body(sku, currency="USD")  # the product is priced in CNY: 422
    first = await shop.order.post("/api/v1/orders", json=body, headers=key)
    again = await shop.order.post("/api/v1/orders", json=body, headers=key)
    assert first.status_code == again.status_code == 422
    assert "idempotent-replayed" not in first.headers
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json() == first.json()
    assert again.headers["content-type"] == "application/problem+json"
    assert await orders_of(shop, member) == 0


async def test_concurrent_duplicates_make_one_order(shop: Shop) -> None:
    member = shop.member()
    sku = await publish_product(shop)
    await wait_for_sale(shop, sku, member)
    key = {"Idempotency-Key": str(uuid.uuid4()), **member}
    answers = await asyncio.gather(
        *(shop.order.post("/api/v1/orders", json=order_body(sku), headers=key) for _ in range(6))
    )
    placed = [a for a in answers if a.status_code == 202]
    busy = [a for a in answers if a.status_code == 409]
    assert len(placed) + len(busy) == len(answers), [a.text for a in answers]
    assert all(a.json()["type"].endswith("idempotency-busy") for a in busy)
    assert len({a.json()["order_id"] for a in placed}) == 1
    assert sum("idempotent-replayed" not in a.headers for a in placed) == 1
    assert await orders_of(shop, member) == 1
    # Whoever was told 409 gets the order on its retry.
    retry = await shop.order.post("/api/v1/orders", json=order_body(sku), headers=key)
    assert retry.headers["idempotent-replayed"] == "true"
    assert retry.json()["order_id"] == placed[0].json()["order_id"]


async def test_a_key_expires_after_a_day(shop: Shop) -> None:
    member = shop.member()
    sku = await publish_product(shop)
    await wait_for_sale(shop, sku, member)
    key = {"Idempotency-Key": str(uuid.uuid4()), **member}
    database = shop.order_runtime.database

    async def age(hours: int) -> None:
        async with database.transaction() as session:
            await session.exec(  # type: ignore[call-overload]
                sa.update(RECORDS).values(created_at=datetime.now(UTC) - timedelta(hours=hours))
            )

    first = await shop.order.post("/api/v1/orders", json=order_body(sku), headers=key)
    await age(25)
    # An expired key is forgotten: another body under it is a new order, not a 422.
    second = await shop.order.post("/api/v1/orders", json=order_body(sku, 3), headers=key)
    assert first.status_code == second.status_code == 202
    assert "idempotent-replayed" not in second.headers
    assert second.json()["order_id"] != first.json()["order_id"]
    assert await orders_of(shop, member) == 2
    # The expiry job (chassis Job "idempotency-expiry") deletes what is older than a day.
    await age(25)
    assert await delete_expired(database) == 1


@contextmanager
def statements(engine: AsyncEngine) -> Iterator[dict[int, list[str]]]:
    """Every round trip of the engine's connections while the block runs, per connection:
    BEGIN (sent by asyncpg with the first statement of a transaction), statements, COMMIT."""
    seen: dict[int, list[str]] = defaultdict(list)

    def begin(conn: Any) -> None:
        seen[id(conn.connection.dbapi_connection)].append("BEGIN")

    def execute(conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        seen[id(conn.connection.dbapi_connection)].append(" ".join(statement.split()))

    def commit(conn: Any) -> None:
        seen[id(conn.connection.dbapi_connection)].append("COMMIT")

    sync = engine.sync_engine
    sa.event.listen(sync, "begin", begin)
    sa.event.listen(sync, "before_cursor_execute", execute)
    sa.event.listen(sync, "commit", commit)
    try:
        yield seen
    finally:
        sa.event.remove(sync, "begin", begin)
        sa.event.remove(sync, "before_cursor_execute", execute)
        sa.event.remove(sync, "commit", commit)


def order_transaction(seen: dict[int, list[str]]) -> list[str]:
    """The round trips of the transaction that inserted the order (other connections belong
    to the relay and the consumers)."""
    for trips in seen.values():
        inserts = [i for i, s in enumerate(trips) if s.startswith("INSERT INTO orders ")]
        if inserts:
            start = max(i for i, s in enumerate(trips[: inserts[0]]) if s == "BEGIN")
            end = trips.index("COMMIT", inserts[0])
            return trips[start : end + 1]
    raise AssertionError("no order was inserted")


async def test_a_key_costs_one_statement_in_the_order_transaction_and_no_redis(
    shop: Shop,
) -> None:
    member = shop.member()
    sku = await publish_product(shop)
    await wait_for_sale(shop, sku, member)
    service = shop.order_runtime
    redis_calls: list[Any] = []
    counted = service.redis.execute_command

    async def counting(*args: Any, **options: Any) -> Any:
        redis_calls.append(args[0])
        return await counted(*args, **options)

    service.redis.execute_command = counting  # type: ignore[method-assign]
    try:
        # Warm up: asyncpg prepares each statement once per connection.
        for _ in range(2):
            await shop.order.post("/api/v1/orders", json=order_body(sku, 1), headers=member)
            key = {"Idempotency-Key": str(uuid.uuid4()), **member}
            await shop.order.post("/api/v1/orders", json=order_body(sku, 1), headers=key)
        redis_calls.clear()
        with statements(service.database.engine) as seen:
            plain = await shop.order.post("/api/v1/orders", json=order_body(sku), headers=member)
        without_key = order_transaction(seen)
        key = {"Idempotency-Key": str(uuid.uuid4()), **member}
        with statements(service.database.engine) as seen:
            keyed = await shop.order.post("/api/v1/orders", json=order_body(sku), headers=key)
        with_key = order_transaction(seen)
    finally:
        service.redis.execute_command = counted  # type: ignore[method-assign]
    assert plain.status_code == keyed.status_code == 202
    assert redis_calls == []
    extra = [s for s in with_key if s not in without_key]
    assert len(with_key) == len(without_key) + 1, (without_key, with_key)
    assert len(extra) == 1 and "idempotency_keys" in extra[0]
    print(f"\norder transaction: {len(without_key)} round trips, {len(with_key)} with a key")
