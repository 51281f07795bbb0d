"""FastAPI dependencies shared by every service's routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from fastapi.responses import JSONResponse
from fastapi.types import DecoratedCallable
from pydantic import BaseModel

from chassis.errors import ProblemError
from chassis.idempotency import IdempotencyKey, IdempotencyStore, idempotency_store
from chassis.runtime import AnyRuntime


def runtime_of(request: Request) -> Any:
    """The running service's runtime, or 503 while it starts or stops. Untyped: each service's
    `deps.py` names its type. Called directly by a route on a hot path, where a dependency
    would cost an extra await per request (the gateway's)."""
    runtime = request.app.state.runtime
    if runtime is None:
        raise ProblemError(503, "the service is starting or stopping", code="unavailable")
    return runtime


async def get_runtime(request: Request) -> AnyRuntime:
    """The running service's runtime; each service's `deps.py` gives it its own type:
    `RuntimeDep = Annotated[Runtime[OrderSettings, None], Depends(get_runtime)]`."""
    # async: a plain `def` dependency is run in the thread pool, on every request.
    runtime: AnyRuntime = runtime_of(request)
    return runtime


RuntimeDep = Annotated[AnyRuntime, Depends(get_runtime)]


class CreateOnce:
    """A create route's `Idempotency-Key`: the operation runs once per key within `scope` and
    answers 201; a retry with the key gets that first answer again (chassis.idempotency)."""

    status_code = status.HTTP_201_CREATED

    def __init__(self, store: IdempotencyStore, key: str | None) -> None:
        self.store = store
        self.key = key

    async def __call__(
        self, scope: str, body: BaseModel, operation: Callable[[], Awaitable[BaseModel]]
    ) -> JSONResponse:
        return await self.store.run(
            scope=scope,
            key=self.key,
            body=body,
            status_code=self.status_code,
            operation=operation,
        )


async def create_once(request: Request, key: IdempotencyKey = None) -> CreateOnce:
    return CreateOnce(idempotency_store(runtime_of(request)), key)


# A route parameter: `create: IdempotentCreate`, then `return await create(scope, body, op)`.
IdempotentCreate = Annotated[CreateOnce, Depends(create_once)]


def create_route(
    router: APIRouter, path: str, model: type[BaseModel], *, tags: Sequence[str]
) -> Callable[[DecoratedCallable], DecoratedCallable]:
    """`POST path` of a route that answers through `IdempotentCreate`: documented with the
    status `CreateOnce` answers and with `model`, since the route returns a bare JSONResponse.

        @create_route(router, "/admin/coupons", CouponAdmin, tags=["admin"])
        async def issue_coupon(..., create: IdempotentCreate) -> JSONResponse:
    """
    return router.post(
        path, status_code=CreateOnce.status_code, response_model=model, tags=list(tags)
    )
