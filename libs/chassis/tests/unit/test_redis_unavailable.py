"""Without Redis a request is a 503 problem the client may retry, never a 500."""

from __future__ import annotations

import httpx
from fastapi import FastAPI

from chassis.cache import create_redis
from chassis.errors import install_problem_handlers
from chassis.testing.infra import free_port


async def test_an_unreachable_redis_is_a_503_problem_with_retry_after() -> None:
    redis = create_redis(f"redis://127.0.0.1:{free_port()}/0")  # nothing listens there
    app = FastAPI()
    install_problem_handlers(app)

    @app.get("/counted")
    async def counted() -> dict[str, int]:
        return {"count": int(await redis.incr("hits"))}

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        response = await client.get("/counted")
    await redis.aclose()
    assert response.status_code == 503
    assert response.headers["content-type"] == "application/problem+json"
    assert response.headers["retry-after"] == "1"
    assert response.json()["type"].endswith("/unavailable")
