"""Retries with exponential backoff: transient errors are tried again, the rest are not."""

from __future__ import annotations

import math

import pytest
import structlog

from chassis import retry
from chassis.logging import get_logger
from chassis.retry import exponential_delay, retry_transient


class Unavailable(Exception):
    pass


class Flaky:
    """Fails with the given errors in turn, then answers "ok"."""

    def __init__(self, *errors: Exception) -> None:
        self.errors = list(errors)
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.errors:
            raise self.errors.pop(0)
        return "ok"


class Sleeps:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.waits.append(seconds)


async def test_transient_errors_are_retried_with_doubling_waits() -> None:
    call, sleep = Flaky(Unavailable("1"), Unavailable("2"), Unavailable("3")), Sleeps()
    result = await retry_transient(
        call, transient=Unavailable, attempts=4, backoff_seconds=0.05, sleep=sleep
    )
    assert (result, call.calls, sleep.waits) == ("ok", 4, [0.05, 0.1, 0.2])


async def test_the_last_transient_error_propagates_after_the_last_attempt() -> None:
    call, sleep = Flaky(*(Unavailable(str(n)) for n in range(1, 6))), Sleeps()
    with pytest.raises(Unavailable, match=r"^4$"):
        await retry_transient(
            call, transient=Unavailable, attempts=4, backoff_seconds=1.0, sleep=sleep
        )
    assert (call.calls, sleep.waits) == (4, [1.0, 2.0, 4.0])


async def test_other_errors_propagate_at_once() -> None:
    call, sleep = Flaky(Unavailable("1"), KeyError("bug")), Sleeps()
    with pytest.raises(KeyError):
        await retry_transient(
            call,
            transient=(Unavailable, TimeoutError),
            attempts=4,
            backoff_seconds=1.0,
            sleep=sleep,
        )
    assert (call.calls, sleep.waits) == (2, [1.0])


async def test_one_attempt_is_no_retry_and_waits_are_capped() -> None:
    with pytest.raises(Unavailable):
        await retry_transient(
            Flaky(Unavailable()), transient=Unavailable, attempts=1, backoff_seconds=1.0
        )
    call, sleep = Flaky(*(Unavailable() for _ in range(4))), Sleeps()
    await retry_transient(
        call, transient=Unavailable, attempts=5, backoff_seconds=1.0, cap_seconds=3.0, sleep=sleep
    )
    assert sleep.waits == [1.0, 2.0, 3.0, 3.0]


async def test_each_retry_is_logged_with_its_attempt_and_error(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # A fresh logger: the module's own may have been cached by an earlier test's logging set-up
    # (cache_logger_on_first_use), and a cached logger writes past capture_logs.
    monkeypatch.setattr(retry, "log", get_logger("chassis.retry"))
    with structlog.testing.capture_logs() as logs:
        await retry_transient(
            Flaky(Unavailable("provider down")),
            transient=Unavailable,
            attempts=2,
            backoff_seconds=0.0,
            message="payment provider unavailable, retrying",
        )
    retried = [
        entry for entry in logs if entry["event"] == "payment provider unavailable, retrying"
    ]
    assert retried == [
        {
            "event": "payment provider unavailable, retrying",
            "log_level": "warning",
            "attempt": 1,
            "error": "provider down",
            "retry_in": 0.0,
        }
    ]


async def test_attempts_below_one_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        await retry_transient(Flaky(), transient=Unavailable, attempts=0, backoff_seconds=1.0)


def test_the_schedule_doubles_from_the_backoff_and_stops_at_the_cap() -> None:
    assert [exponential_delay(n, backoff_seconds=2.0) for n in (1, 2, 3, 4)] == [
        2.0,
        4.0,
        8.0,
        16.0,
    ]
    assert exponential_delay(5, backoff_seconds=2.0, cap_seconds=10.0) == 10.0
    # A huge attempt number is the cap, not an overflow.
    assert exponential_delay(10**9, backoff_seconds=2.0, cap_seconds=3600.0) == 3600.0
    assert exponential_delay(10**9, backoff_seconds=2.0) < math.inf
    with pytest.raises(ValueError):
        exponential_delay(0, backoff_seconds=1.0)


async def test_a_lambda_returning_a_coroutine_is_awaited_and_retried() -> None:
    calls: list[int] = []

    async def flaky() -> str:
        calls.append(1)
        if len(calls) < 3:
            raise ConnectionError("down")
        return "done"

    async def no_sleep(_: float) -> None:
        return None

    result = await retry_transient(
        lambda: flaky(),
        transient=ConnectionError,
        attempts=3,
        backoff_seconds=0.01,
        sleep=no_sleep,
    )
    assert result == "done"
    assert len(calls) == 3
