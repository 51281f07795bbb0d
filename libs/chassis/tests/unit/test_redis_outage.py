"""`RedisOutage`: after a failure Redis is skipped for the retry time, then asked again; the
outage is logged when it starts and when it ends, not for every caller that went without."""

from __future__ import annotations

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError

from chassis import redis_outage
from chassis.redis_outage import RedisOutage
from chassis.testing.clock import ManualClock


def test_skipped_for_the_retry_time_after_a_failure_then_asked_again() -> None:
    clock = ManualClock()
    outage = RedisOutage("test", retry_seconds=1.0, clock=clock)
    assert not outage.skipping()
    outage.failed(RedisConnectionError("refused"))
    assert outage.skipping()
    clock.now += 0.99
    assert outage.skipping()
    clock.now += 0.01
    assert not outage.skipping()  # one caller asks again
    outage.failed(RedisConnectionError("refused"))  # still down: another second
    assert outage.skipping()
    clock.now += 1.0
    assert not outage.skipping()
    outage.answered()
    assert not outage.skipping()


def test_while_one_caller_asks_again_the_others_still_go_without() -> None:
    """A Redis that hangs makes the caller that asks wait for the socket timeout: one caller a
    window, not every caller that comes while it waits."""
    clock = ManualClock()
    outage = RedisOutage("test", retry_seconds=1.0, clock=clock)
    outage.failed(RedisConnectionError("timed out"))
    clock.now += 1.0
    assert not outage.skipping()  # this one asks
    assert outage.skipping()  # and these do not, while it waits
    clock.now += 0.5
    assert outage.skipping()
    clock.now += 0.5  # it never reported (cancelled): another asks after a window
    assert not outage.skipping()
    assert outage.skipping()
    outage.answered()  # Redis is back: everyone asks again
    assert not outage.skipping()
    assert not outage.skipping()


class Lines:
    """Stands in for the module's logger: the (level, event, use) of each line."""

    def __init__(self) -> None:
        self.lines: list[tuple[str, str, object]] = []

    def warning(self, event: str, **fields: object) -> None:
        self.lines.append(("warning", event, fields["use"]))

    def info(self, event: str, **fields: object) -> None:
        self.lines.append(("info", event, fields["use"]))


def test_an_outage_is_logged_once_when_it_starts_and_once_when_it_ends(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    logged = Lines()
    monkeypatch.setattr(redis_outage, "log", logged)
    clock = ManualClock()
    outage = RedisOutage("rate limits", clock=clock)
    outage.answered()  # up all along: nothing to say
    for _ in range(5):
        outage.failed(RedisConnectionError("refused"))
        clock.now += 2.0
    outage.answered()
    outage.answered()
    assert logged.lines == [
        ("warning", "Redis unreachable", "rate limits"),
        ("info", "Redis reachable again", "rate limits"),
    ]
