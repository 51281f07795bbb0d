"""Login brute force: failed attempts counted per email and per client address in Redis.

A fixed window per key: the first failure creates the counter with the window as its TTL,
each failure increments it (one MULTI, so a counter never lives without its TTL). At the
limit, logins for that email (or from that address) answer 429 with `Retry-After` until the
window ends, even with the right password. A success clears the email's counter. Emails
appear in keys only as a SHA-256, never in clear.
"""

from __future__ import annotations

import hashlib

import redis.asyncio as aioredis

from chassis.errors import ProblemError
from chassis.logging import get_logger

log = get_logger(__name__)


class TooManyAttempts(ProblemError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(
            429,
            "too many failed logins; try again later",
            code="too-many-attempts",
            headers={"Retry-After": str(retry_after)},
        )


class LoginLimiter:
    def __init__(
        self,
        redis: aioredis.Redis,
        namespace: str,
        *,
        per_email: int,
        per_address: int,
        window_seconds: int,
    ) -> None:
        self.redis = redis
        self.namespace = namespace
        self.per_email = per_email
        self.per_address = per_address
        self.window_seconds = window_seconds

    def _email_key(self, email: str) -> str:
        return f"{self.namespace}:email:{hashlib.sha256(email.encode()).hexdigest()}"

    def _keys(self, email: str, address: str) -> list[tuple[str, str, int]]:
        """(scope, key, limit) of each counter."""
        return [
            ("email", self._email_key(email), self.per_email),
            ("address", f"{self.namespace}:ip:{address}", self.per_address),
        ]

    async def check(self, email: str, address: str) -> None:
        keys = self._keys(email, address)
        try:
            counts = await self.redis.mget([key for _, key, _ in keys])
            for (scope, key, limit), count in zip(keys, counts, strict=True):
                if count is not None and int(count) >= limit:
                    ttl = await self.redis.ttl(key)
                    log.warning("login rate limited", scope=scope, limit=limit)
                    raise TooManyAttempts(max(int(ttl), 1))
        except aioredis.RedisError as exc:
            raise self._unavailable(exc) from None

    async def failed(self, email: str, address: str) -> None:
        try:
            async with self.redis.pipeline(transaction=True) as pipe:
                for _, key, _ in self._keys(email, address):
                    pipe.set(key, 0, ex=self.window_seconds, nx=True)
                    pipe.incr(key)
                await pipe.execute()
        except aioredis.RedisError as exc:
            raise self._unavailable(exc) from None

    async def succeeded(self, email: str) -> None:
        try:
            await self.redis.delete(self._email_key(email))
        except aioredis.RedisError as exc:
            log.warning("could not clear the login counter", error=str(exc))

    @staticmethod
    def _unavailable(exc: Exception) -> ProblemError:
        # Closed, not open: without its counters the limiter cannot protect the accounts.
        log.error("login limiter unavailable", error=str(exc))
        return ProblemError(503, "login is unavailable; try again", code="unavailable")
