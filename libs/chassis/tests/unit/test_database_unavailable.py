"""A request that finds the database unreachable (restarting, down) is a 503 problem the
client may retry, never a 500: found by `make chaos`, where `POST /orders` answered 500 while
PostgreSQL restarted."""

from __future__ import annotations

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from chassis.db import Database, DependencyUnavailable, is_unavailable
from chassis.errors import install_problem_handlers
from chassis.testing.infra import free_port


async def test_an_unreachable_database_is_a_503_problem_with_retry_after() -> None:
    # Nothing listens there: the connection is refused, as while PostgreSQL restarts.
    database = Database(f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/nowhere")
    app = FastAPI()
    install_problem_handlers(app)

    @app.post("/orders")
    async def place() -> dict[str, int]:
        async with database.transaction() as session:
            return {"one": (await session.execute(text("SELECT 1"))).scalar_one()}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.post("/orders")
    await database.engine.dispose()
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"].endswith("/unavailable")


def test_a_dependency_outage_counts_when_raised_or_raised_from_not_when_met_in_handling() -> None:
    down = DependencyUnavailable("provider down")
    assert is_unavailable(down)
    try:
        try:
            raise down
        except DependencyUnavailable as exc:
            raise RuntimeError("reported as another error") from exc
    except RuntimeError as wrapped:
        assert is_unavailable(wrapped)
    try:
        try:
            raise down
        except DependencyUnavailable:
            raise ValueError("a bug in the fallback")  # noqa: B904 - the point of the test
    except ValueError as bug:
        # Met while handling the outage, not caused by it: a failure, never waited out.
        assert not is_unavailable(bug)
