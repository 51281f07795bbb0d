"""RFC 9457 problem details for every error a service returns; never a stack trace."""

from __future__ import annotations

import json
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError
from starlette.exceptions import HTTPException as StarletteHTTPException

from chassis.db import is_unavailable
from chassis.logging import get_logger
from chassis.redis_outage import RedisAway
from chassis.rules import RuleError

log = get_logger(__name__)

PROBLEM_JSON = "application/problem+json"
PROBLEM_BASE = "https://docs.commerce-suite.dev/problems/"


class Problem(BaseModel):
    """RFC 9457 problem details: the body of every 4xx and 5xx (documented in the OpenAPI)."""

    model_config = ConfigDict(extra="allow")  # problem-specific members (`errors`, ...)

    type: str
    title: str
    status: int
    detail: str
    instance: str
    errors: list[dict[str, Any]] | None = Field(
        default=None, description="422 only: each refused field's loc, msg and type"
    )


# What any route may answer besides its success: declared on every service route (see
# chassis.app) so the OpenAPI promises problem+json, never FastAPI's `{"detail": [...]}`.
PROBLEM_STATUSES = (400, 401, 403, 404, 409, 413, 422, 429, 503)
PROBLEM_RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {
        "description": HTTPStatus(status).phrase,
        "content": {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}},
    }
    for status in PROBLEM_STATUSES
}


def document_problems(openapi: dict[str, Any]) -> dict[str, Any]:
    """Add the `Problem` schema that PROBLEM_RESPONSES refer to to an OpenAPI document."""
    schemas = openapi.setdefault("components", {}).setdefault("schemas", {})
    schemas.setdefault("Problem", Problem.model_json_schema())
    return openapi


class ProblemResponse(JSONResponse):
    media_type = PROBLEM_JSON

    def render(self, content: Any) -> bytes:
        # A refused body can hold lone surrogates (a JSON key "\ud800" is echoed in `loc`):
        # they have no UTF-8, so they become "?" rather than turn a 422 into a 500.
        text = json.dumps(content, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
        return text.encode("utf-8", errors="replace")


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


class BackingStoreUnavailable(ProblemError):
    """503 while a store the route needs (Redis, the database) is away: retry in a second."""

    def __init__(self) -> None:
        super().__init__(
            503,
            "a backing store is unavailable; retry later",
            code="unavailable",
            headers={"Retry-After": "1"},
        )


class NotFound(ProblemError):
    def __init__(self, detail: str = "not found") -> None:
        super().__init__(404, detail, code="not-found")


class Conflict(ProblemError):
    def __init__(self, detail: str, *, code: str = "conflict") -> None:
        super().__init__(409, detail, code=code)


class ConcurrentChange(Conflict):
    """409 `concurrent-change`: the record changed between this request's read and its write;
    the same request again may well pass. Transient: an Idempotency-Key store does not keep it
    (a retry under the key runs again instead of being told "try again" for a day)."""

    transient = True

    def __init__(self, detail: str) -> None:
        super().__init__(detail, code="concurrent-change")


def kept_with_key(problem: ProblemError) -> bool:
    """Whether an Idempotency-Key store keeps this refusal as the key's answer: a client's
    4xx, but not a server error nor a transient conflict (`ConcurrentChange`)."""
    return problem.status < 500 and not getattr(problem, "transient", False)


def as_problem(refusal: ProblemError | RuleError) -> ProblemError:
    """A domain rule's refusal as the ProblemError it is answered with (install_problem_handlers),
    for code that keeps refusals, such as the Idempotency-Key stores."""
    if isinstance(refusal, ProblemError):
        return refusal
    return ProblemError(refusal.status, refusal.detail, code=refusal.code)


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
    return ProblemResponse(body, status_code=status, headers=headers)


def is_data_exception(exc: DBAPIError) -> bool:
    """SQLSTATE class 22, "data exception": numeric value out of range, NUL in text, ..."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    return isinstance(sqlstate, str) and sqlstate.startswith("22")


# SQLite's extended result codes for a broken PRIMARY KEY or UNIQUE constraint.
_SQLITE_UNIQUE = frozenset({1555, 2067})


def is_unique_violation(exc: DBAPIError) -> bool:
    """SQLSTATE 23505 (or SQLite's unique codes): the row a request inserts exists already."""
    sqlstate = getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
    if isinstance(sqlstate, str):
        return sqlstate == "23505"
    return getattr(exc.orig, "sqlite_errorcode", None) in _SQLITE_UNIQUE


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

    async def on_rule(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RuleError)
        return problem_response(request, exc.status, exc.detail, code=exc.code)

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
        # Redis holds the flash-sale allowances, login backoff gates and admin create keys (rate
        # limits and caches go without it); the database everything else: a route that needs
        # one that is away says so and lets the client retry, rather than answer 500.
        if not isinstance(exc, RedisAway):  # an outage already logged when it began
            log.warning("backing store unavailable", path=request.url.path, error=repr(exc))
        return await on_problem(request, BackingStoreUnavailable())

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        if is_unavailable(exc):  # the database restarting: nothing the client did
            return await on_redis_down(request, exc)
        log.exception("unhandled error", path=request.url.path)
        return problem_response(request, 500, "an unexpected error occurred", code="internal")

    async def on_database_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, DBAPIError)
        if is_unique_violation(exc):
            # Mostly two requests that created the same row at once (a check-then-insert both
            # passed): the loser's transaction is rolled back whole, and a retry sees the
            # winner's row. Logged as an error all the same, with the constraint: a use case
            # that inserts without checking first would show here every time.
            log.error(
                "unique constraint refused an insert",
                path=request.url.path,
                constraint=getattr(exc.orig, "constraint_name", None),
            )
            return problem_response(
                request,
                409,
                "the record exists already (another request may have created it at the same "
                "moment); read it, or try again",
                code="already-exists",
                title="Conflict",
            )
        if not is_data_exception(exc):
            return await on_unexpected(request, exc)
        # A backstop, not the rule: request models refuse what PostgreSQL cannot hold (NUL,
        # integers past the column). A value that still got there (a sum past int4, ...) is
        # the client's input, so a 422, logged loudly so the missing rule gets written.
        log.error("database refused a value", path=request.url.path, error=str(exc.orig))
        return problem_response(
            request,
            422,
            "a value is out of the range that can be stored",
            code="unstorable-value",
            title="Unprocessable Content",
        )

    app.add_exception_handler(ProblemError, on_problem)
    app.add_exception_handler(RuleError, on_rule)
    app.add_exception_handler(StarletteHTTPException, on_http)
    app.add_exception_handler(RequestValidationError, on_validation)
    app.add_exception_handler(RedisConnectionError, on_redis_down)
    app.add_exception_handler(RedisTimeoutError, on_redis_down)
    app.add_exception_handler(DBAPIError, on_database_error)
    app.add_exception_handler(Exception, on_unexpected)
