"""RFC 9457 problem details for every error a service returns; never a stack trace."""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

from chassis.logging import get_logger

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://docs.commerce-suite.dev/problems/"


class ProblemError(Exception):
    """Raise from a service function to answer with problem+json."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        code: str | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.code = code or HTTPStatus(status).phrase.lower().replace(" ", "-")
        self.title = title or HTTPStatus(status).phrase
        self.headers = headers
        self.extra = extra


class NotFound(ProblemError):
    def __init__(self, detail: str = "not found") -> None:
        super().__init__(404, detail, code="not-found")


class Conflict(ProblemError):
    def __init__(self, detail: str, *, code: str = "conflict") -> None:
        super().__init__(409, detail, code=code)


def problem_response(
    request: Request,
    status: int,
    detail: str,
    *,
    code: str,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    **extra: Any,
) -> JSONResponse:
    body = {
        "type": PROBLEM_BASE + code,
        "title": title or HTTPStatus(status).phrase,
        "status": status,
        "detail": detail,
        "instance": request.url.path,
        **extra,
    }
    return JSONResponse(body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    async def on_problem(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ProblemError)
        return problem_response(
            request,
            exc.status,
            exc.detail,
            code=exc.code,
            title=exc.title,
            headers=exc.headers,
            **exc.extra,
        )

    async def on_http(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, StarletteHTTPException)
        code = HTTPStatus(exc.status_code).phrase.lower().replace(" ", "-")
        return problem_response(
            request,
            exc.status_code,
            str(exc.detail),
            code=code,
            headers=getattr(exc, "headers", None),
        )

    async def on_validation(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = [
            {"loc": list(e.get("loc", ())), "msg": e.get("msg", ""), "type": e.get("type", "")}
            for e in exc.errors()
        ]
        return problem_response(
            request,
            422,
            "the request is not valid",
            code="validation-error",
            title="Unprocessable Content",
            errors=errors,
        )

    async def on_redis_down(request: Request, exc: Exception) -> JSONResponse:
        # Rate limits, idempotency keys and caches live in Redis: without it, say so and let
        # the client retry, rather than answer 500.
        log.warning("redis unavailable", path=request.url.path, error=repr(exc))
        return problem_response(
            request,
            503,
            "a backing store is unavailable; retry later",
            code="unavailable",
            headers={"Retry-After": "1"},
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error", path=request.url.path)
        return problem_response(request, 500, "an unexpected error occurred", code="internal")

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(RedisConnectionError, on_redis_down)
    app.add_exception_handler(RedisTimeoutError, on_redis_down)
    app.add_exception_handler(Exception, on_unexpected)
