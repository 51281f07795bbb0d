"""Fresh PostgreSQL databases for one benchmark run, one per service, dropped afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Iterable
from dataclasses import dataclass
from typing import Any

import asyncpg
from sqlalchemy.engine.url import make_url


@dataclass
class ServiceDatabases:
    """`urls[service]` for the suite (SQLAlchemy, asyncpg driver); `query()` for the checks."""

    admin_url: str
    names: dict[str, str]
    urls: dict[str, str]

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
