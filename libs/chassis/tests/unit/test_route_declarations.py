"""The route pieces every service's api.py shares: `create_route` (an idempotent create's
declaration) and the `?page=&size=` parameters of a list."""

from __future__ import annotations

from typing import Any, cast

from fastapi import APIRouter, FastAPI, status
from fastapi.responses import JSONResponse
from fastapi.testclient import TestClient
from pydantic import BaseModel

from chassis.deps import CreateOnce, create_route
from chassis.idempotency import IdempotencyStore
from chassis.pagination import PageNumber, PageSize


class Thing(BaseModel):
    id: str


def test_a_create_route_is_documented_with_the_status_create_once_answers() -> None:
    router = APIRouter(prefix="/api/v1")

    @create_route(router, "/things", Thing, tags=["admin"])
    async def create_thing() -> JSONResponse:
        return JSONResponse({"id": "t-1"}, status_code=CreateOnce.status_code)

    app = FastAPI()
    app.include_router(router)
    operation = app.openapi()["paths"]["/api/v1/things"]["post"]

    assert operation["tags"] == ["admin"]
    assert operation["operationId"] == "create_thing_api_v1_things_post"
    assert list(operation["responses"]) == ["201"]
    schema = operation["responses"]["201"]["content"]["application/json"]["schema"]
    assert schema == {"$ref": "#/components/schemas/Thing"}
    assert TestClient(app).post("/api/v1/things").status_code == 201


async def test_create_once_answers_its_status_code() -> None:
    seen: dict[str, Any] = {}

    class Store:
        async def run(self, **kwargs: Any) -> JSONResponse:
            seen.update(kwargs)
            return JSONResponse({}, status_code=kwargs["status_code"])

    async def operation() -> BaseModel:
        return Thing(id="t-1")

    create = CreateOnce(cast(IdempotencyStore, Store()), "key-1")
    answer = await create("scope", Thing(id="t-1"), operation)

    assert CreateOnce.status_code == status.HTTP_201_CREATED
    assert answer.status_code == seen["status_code"] == CreateOnce.status_code
    assert (seen["scope"], seen["key"]) == ("scope", "key-1")
    assert seen["operation"] is operation


def _list_app() -> FastAPI:
    app = FastAPI()

    @app.get("/items")
    async def list_items(page: PageNumber = 1, size: PageSize = 20) -> dict[str, int]:
        return {"page": page, "size": size}

    return app


def test_page_and_size_default_to_the_first_page_of_20() -> None:
    assert TestClient(_list_app()).get("/items").json() == {"page": 1, "size": 20}


def test_page_and_size_out_of_bounds_are_refused() -> None:
    client = TestClient(_list_app())
    assert client.get("/items", params={"page": 10_000, "size": 100}).status_code == 200
    for params in ({"page": 0}, {"page": 10_001}, {"size": 0}, {"size": 101}):
        assert client.get("/items", params=params).status_code == 422, params


def test_page_and_size_bounds_are_in_the_openapi() -> None:
    parameters = _list_app().openapi()["paths"]["/items"]["get"]["parameters"]
    bounds = {p["name"]: (p["schema"]["minimum"], p["schema"]["maximum"]) for p in parameters}
    assert bounds == {"page": (1, 10_000), "size": (1, 100)}
