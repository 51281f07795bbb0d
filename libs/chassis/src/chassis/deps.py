"""FastAPI dependencies shared by every service's routes."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from chassis.errors import ProblemError
from chassis.runtime import Runtime


def get_runtime(request: Request) -> Runtime:
    runtime: Runtime | None = request.app.state.runtime
    if runtime is None:
        raise ProblemError(503, "the service is starting or stopping", code="unavailable")
    return runtime


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
