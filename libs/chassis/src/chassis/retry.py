"""Retries with exponential backoff, on tenacity.

Two kinds of retry share one schedule: after failed attempt n the next waits
`backoff * 2**(n-1)` seconds, capped.

- `retry_transient(call, ...)` retries in process: a call that fails with a transient error
  (a payment provider's `ProviderUnavailable`) is tried again after the backoff, `attempts`
  times in all; any other error, and the last transient one, propagates at once.
- `exponential_delay(n, ...)` is that schedule for retries kept in a database (a
  notification's next attempt is a row's `next_attempt_at`, not a sleeping coroutine).
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Awaitable, Callable
from typing import TypeVar

from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
)

from chassis.logging import get_logger

log = get_logger(__name__)

T = TypeVar("T")

# 2**60 backoffs are far past any cap; the bound keeps a huge attempt number a float.
_MAX_EXPONENT = 60


def exponential_delay(
    attempt: int, *, backoff_seconds: float, cap_seconds: float = math.inf
) -> float:
    """The wait after failed attempt `attempt` (counted from 1): backoff * 2**(attempt-1),
    at most `cap_seconds`."""
    if attempt < 1:
        raise ValueError("attempts are counted from 1")
    return float(min(backoff_seconds * 2 ** min(attempt - 1, _MAX_EXPONENT), cap_seconds))


async def retry_transient(
    call: Callable[[], Awaitable[T]],
    *,
    transient: type[BaseException] | tuple[type[BaseException], ...],
    attempts: int,
    backoff_seconds: float,
    cap_seconds: float = math.inf,
    message: str = "transient error, retrying",
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> T:
    """`await call()`, tried up to `attempts` times while it raises a `transient` error, with
    `exponential_delay` between tries; each retry is logged as `message` with the attempt,
    the error and the wait. The last transient error propagates as it was raised."""
    if attempts < 1:
        raise ValueError("attempts must be at least 1")

    def wait(state: RetryCallState) -> float:
        return exponential_delay(
            state.attempt_number, backoff_seconds=backoff_seconds, cap_seconds=cap_seconds
        )

    def before_sleep(state: RetryCallState) -> None:
        error = state.outcome.exception() if state.outcome is not None else None
        delay = state.next_action.sleep if state.next_action is not None else 0.0
        log.warning(message, attempt=state.attempt_number, error=str(error), retry_in=delay)

    async def attempt() -> T:
        # tenacity awaits only a callable it recognises as a coroutine function; `call` is
        # often a lambda returning an awaitable, which it would hand back un-awaited.
        return await call()

    retrying = AsyncRetrying(
        stop=stop_after_attempt(attempts),
        wait=wait,
        retry=retry_if_exception_type(transient),
        before_sleep=before_sleep,
        sleep=sleep,
        reraise=True,
    )
    return await retrying(attempt)
