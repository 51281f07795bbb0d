"""Fresh PostgreSQL databases for one benchmark run, one per service, dropped afterwards; or
the SQLite files `make run` would use (`SqliteDatabases`), read with the same queries."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import sqlite3
import uuid
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import asyncpg
from sqlalchemy.engine.url import make_url


class Databases(Protocol):
    """What the checks need of the services' databases, whichever they are."""

    kind: str

    @property
    def urls(self) -> dict[str, str]:
        """SQLAlchemy URLs by service."""
        ...

    async def query(self, service: str, sql: str, *args: Any) -> Sequence[Any]: ...

    async def scalar(self, service: str, sql: str, *args: Any) -> Any: ...


@dataclass
class ServiceDatabases:
    """`urls[service]` for the suite (SQLAlchemy, asyncpg driver); `query()` for the checks."""

    admin_url: str
    names: dict[str, str]
    urls: dict[str, str]
    kind: str = "postgres"

    def dsn(self, service: str) -> str:
        """libpq form, for asyncpg itself."""
        url = make_url(self.admin_url).set(database=self.names[service])
        return url.render_as_string(hide_password=False)

    async def query(self, service: str, sql: str, *args: Any) -> list[asyncpg.Record]:
        conn = await asyncpg.connect(self.dsn(service))
        try:
            return list(await conn.fetch(sql, *args))
        finally:
            await conn.close()

    async def scalar(self, service: str, sql: str, *args: Any) -> Any:
        rows = await self.query(service, sql, *args)
        return rows[0][0] if rows else None


async def fresh_database(admin_url: str) -> tuple[str, str]:
    name = f"bench_{uuid.uuid4().hex[:8]}"
    conn = await asyncpg.connect(admin_url)
    await conn.execute(f'CREATE DATABASE "{name}"')
    await conn.close()
    url = make_url(admin_url).set(drivername="postgresql+asyncpg", database=name)
    return name, url.render_as_string(hide_password=False)


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def service_databases(
    admin_url: str, services: Iterable[str]
) -> AsyncIterator[ServiceDatabases]:
    names: dict[str, str] = {}
    urls: dict[str, str] = {}
    try:
        for service in services:
            names[service], urls[service] = await fresh_database(admin_url)
        yield ServiceDatabases(admin_url, names, urls)
    finally:
        for name in names.values():
            await drop_database(admin_url, name)


# The checks' SQL is PostgreSQL's (asyncpg): `$1` parameters, `= ANY($1::text[])` for a list.
ANY_LIST = re.compile(r"=\s*ANY\(\$(\d+)(?:::\w+\[\])?\)", re.IGNORECASE)
PARAMETER = re.compile(r"\$(\d+)")


def sqlite_sql(sql: str, args: Sequence[Any]) -> tuple[str, list[Any]]:
    """The same statement for SQLite: a list parameter becomes `IN (SELECT value FROM
    json_each(?n))` with the list as JSON, `$n` becomes `?n`."""
    lists = {int(n) for n in ANY_LIST.findall(sql)}
    sql = ANY_LIST.sub(lambda m: f"IN (SELECT value FROM json_each(?{m.group(1)}))", sql)  # noqa: S608
    sql = PARAMETER.sub(lambda m: f"?{m.group(1)}", sql)
    values = [json.dumps(list(a)) if i + 1 in lists else a for i, a in enumerate(args)]
    return sql, values


@dataclass
class SqliteDatabases:
    """The SQLite file of each service in `folder` (`<folder>/<service>.db`, as tools.suite
    names them when no `<PREFIX>DATABASE_URL` is set), read-only, one connection per query."""

    folder: Path
    services: Sequence[str]
    kind: str = "sqlite"

    @property
    def urls(self) -> dict[str, str]:
        return {s: f"sqlite+aiosqlite:///{self.path(s)}" for s in self.services}

    def path(self, service: str) -> Path:
        return self.folder / f"{service}.db"

    def _fetch(self, service: str, sql: str, args: Sequence[Any]) -> list[sqlite3.Row]:
        conn = sqlite3.connect(f"file:{self.path(service)}?mode=ro", uri=True, timeout=30)
        try:
            conn.row_factory = sqlite3.Row
            return conn.execute(*sqlite_sql(sql, args)).fetchall()
        finally:
            conn.close()

    async def query(self, service: str, sql: str, *args: Any) -> list[sqlite3.Row]:
        return await asyncio.to_thread(self._fetch, service, sql, args)

    async def scalar(self, service: str, sql: str, *args: Any) -> Any:
        rows = await self.query(service, sql, *args)
        return rows[0][0] if rows else None
