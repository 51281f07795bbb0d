"""FastAPI dependencies shared by every service's routes."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from chassis.errors import ProblemError
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
