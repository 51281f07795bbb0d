"""Waiting on another process's database: probe until done or out of time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(
    probe: Callable[[], Awaitable[T]], done: Callable[[T], bool], timeout: float, every: float = 0.3
) -> T:
    """The first probed value that is `done`, else the last one once `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while True:  # nothing to wait on but the other process's database
        value = await probe()
        if done(value) or time.monotonic() > deadline:
            return value
        await asyncio.sleep(every)
