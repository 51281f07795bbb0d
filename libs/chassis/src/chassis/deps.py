"""FastAPI dependencies shared by every service's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chassis.errors import ProblemError
from chassis.runtime import Runtime


async def get_runtime(request: Request) -> Runtime:
    # async: a plain `def` dependency is run in the thread pool, on every request.
    runtime: Runtime | None = request.app.state.runtime
    if runtime is None:
        raise ProblemError(503, "the service is starting or stopping", code="unavailable")
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
