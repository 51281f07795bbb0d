"""HTTP idempotency keys with Stripe's semantics, stored in Redis.

The first response to `(scope, Idempotency-Key)` is stored for `ttl_seconds` (24 h) and
replayed to any retry with the same body (header `Idempotent-Replayed: true`). The same key
with a different body is a 422; a retry while the first request still runs is a 409. A key is
claimed only for `lock_seconds` until a response exists, so a crash mid-request frees it.
Server errors (5xx) are not stored: the client may retry them.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Annotated, Any

import redis.asyncio as aioredis
from fastapi import Header
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from redis.exceptions import RedisError

from chassis.errors import ProblemError, as_problem, kept_with_key
from chassis.logging import get_logger
from chassis.redis_outage import RedisOutage
from chassis.rules import RuleError

if TYPE_CHECKING:
    from chassis.runtime import AnyRuntime

log = get_logger(__name__)

DAY = 24 * 3600
MAX_KEY_LENGTH = 255


def fingerprint(body: BaseModel | dict[str, Any]) -> str:
    data = body.model_dump(mode="json") if isinstance(body, BaseModel) else body
    return hashlib.sha256(json.dumps(data, sort_keys=True).encode()).hexdigest()


class IdempotencyStore:
    def __init__(
        self,
        redis: aioredis.Redis,
        namespace: str,
        *,
        ttl_seconds: int = DAY,
        lock_seconds: int = 60,
        outage: RedisOutage,
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.ttl_seconds = ttl_seconds
        self.lock_seconds = lock_seconds
        # Shared with the service's other routes that need Redis (`BaseRuntime.redis_outage`):
        # the claim and a replay are refused at once while Redis is away; what follows an
        # operation that ran (its answer stored, its key freed) is always tried.
        self.outage = outage

    async def run(
        self,
        *,
        scope: str,
        key: str | None,
        body: BaseModel,
        status_code: int,
        operation: Callable[[], Awaitable[BaseModel]],
    ) -> JSONResponse:
        """Run `operation` once per key; answer retries from the stored response."""
        if key is None:
            return JSONResponse((await operation()).model_dump(mode="json"), status_code)
        if not 0 < len(key) <= MAX_KEY_LENGTH:
            raise ProblemError(
                400, f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} characters", code="bad-key"
            )
        redis_key = f"{self.namespace}:{scope}:{hashlib.sha256(key.encode()).hexdigest()}"
        body_print = fingerprint(body)
        claimed = await self.outage.ask(
            lambda: self.redis.set(
                redis_key, json.dumps({"fingerprint": body_print}), nx=True, ex=self.lock_seconds
            )
        )
        if not claimed:
            return await self._replay(redis_key, body_print)
        # Only what `operation()` itself raised frees the key: once it has returned, its work
        # is done, and a cancellation or a Redis failure must not let a retry run it again.
        try:
            result = await operation()
        except (ProblemError, RuleError) as refusal:
            problem = as_problem(refusal)
            if not kept_with_key(problem):
                await self.outage.ask(lambda: self.redis.delete(redis_key), skip=False)
            else:
                await self._store(redis_key, body_print, problem.status, None, problem)
            raise
        except BaseException:
            await self.outage.ask(lambda: self.redis.delete(redis_key), skip=False)
            raise
        payload = result.model_dump(mode="json")
        await self._store(redis_key, body_print, status_code, payload, None)
        return JSONResponse(payload, status_code)

    async def _store(
        self,
        redis_key: str,
        body_print: str,
        status: int,
        payload: dict[str, Any] | None,
        problem: ProblemError | None,
    ) -> None:
        record: dict[str, Any] = {"fingerprint": body_print, "status": status, "body": payload}
        if problem is not None:
            record["problem"] = {"detail": problem.detail, "code": problem.code, **problem.extra}
        try:
            await self.outage.ask(
                lambda: self.redis.set(redis_key, json.dumps(record), ex=self.ttl_seconds),
                skip=False,
            )
        except RedisError as exc:
            # The operation ran: its answer goes to the client all the same. A 503 would invite
            # a retry that, once the claim expires, runs the operation a second time.
            log.warning("idempotency answer not stored", status=status, error=str(exc))

    async def _replay(self, redis_key: str, body_print: str) -> JSONResponse:
        raw = await self.outage.ask(lambda: self.redis.get(redis_key))
        if raw is None:  # expired between our SET and GET: rare, and safe to ask for a retry
            raise ProblemError(409, "retry the request", code="idempotency-retry")
        record = json.loads(raw)
        if record["fingerprint"] != body_print:
            raise ProblemError(
                422,
                "this Idempotency-Key was used with a different request body",
                code="idempotency-key-reused",
            )
        if "status" not in record:
            raise ProblemError(
                409, "a request with this Idempotency-Key is in progress", code="idempotency-busy"
            )
        if "problem" in record:
            problem = record["problem"]
            raise ProblemError(
                record["status"],
                problem.pop("detail"),
                code=problem.pop("code"),
                headers={"Idempotent-Replayed": "true"},
                **problem,
            )
        return JSONResponse(
            record["body"], record["status"], headers={"Idempotent-Replayed": "true"}
        )


# The request header, for route signatures: `key: IdempotencyKey = None`.
IdempotencyKey = Annotated[
    str | None,
    Header(alias="Idempotency-Key", description="replays the first response for 24 h"),
]


def idempotency_store(runtime: AnyRuntime) -> IdempotencyStore:
    """The service's store: keys live under `<prefix><service>:idem:` in its Redis."""
    settings = runtime.settings
    return IdempotencyStore(
        runtime.redis,
        f"{settings.redis_key_prefix}{settings.service_name}:idem",
        outage=runtime.redis_outage,
    )
