"""Waiting on other processes in tests and benchmarks: probe until done or out of time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    timeout: float = 30,
    every: float = 0.1,
) -> T:
    """The first probed value that is `done`, else the last one once `timeout` has passed,
    for the caller's assertion to judge."""
    deadline = time.monotonic() + timeout
    while True:
        value = await probe()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)
