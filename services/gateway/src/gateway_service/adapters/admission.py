"""Admission to one service: a bounded number of calls in flight, a bounded, short queue.

A call beyond `limit` waits its turn (first come, first served) for up to `wait_seconds`, with
at most `max_waiting` others; past either bound it is refused at once. A call that gets in has
waited at most `wait_seconds`, so it still has its whole upstream timeout for the work: a burst
(a flash sale's buyers) is served a little later instead of being told to retry, and overload
beyond the queue is still refused before any work starts.
"""

from __future__ import annotations

import asyncio


class Admission:
    def __init__(self, limit: int, max_waiting: int, wait_seconds: float) -> None:
        self.limit = limit
        self.max_waiting = max_waiting
        self.wait_seconds = wait_seconds
        self.waiting = 0
        self._slots = asyncio.Semaphore(limit)

    async def enter(self) -> bool:
        """True once the call holds a slot (leave() gives it back); False: refused."""
        if not self._slots.locked():
            await self._slots.acquire()  # free: returns at once
            return True
        if self.waiting >= self.max_waiting or self.wait_seconds <= 0:
            return False
        self.waiting += 1
        try:
            await asyncio.wait_for(self._slots.acquire(), self.wait_seconds)
            return True
        except TimeoutError:
            return False
        finally:
            self.waiting -= 1

    def leave(self) -> None:
        self._slots.release()
