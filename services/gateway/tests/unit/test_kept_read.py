"""The merged API documents' cache: one read for all the callers waiting on it, kept for its
window, read again after it."""

from __future__ import annotations

import asyncio

from gateway_service.service.single_flight import KeptRead


async def test_one_read_serves_every_caller_until_the_window_ends() -> None:
    now = [100.0]
    kept: KeptRead[int] = KeptRead(10.0, clock=lambda: now[0])
    reads = 0

    async def read() -> int:
        nonlocal reads
        reads += 1
        await asyncio.sleep(0.01)  # callers arriving meanwhile wait for this read
        return reads

    assert await asyncio.gather(*(kept.get(read) for _ in range(20))) == [1] * 20
    now[0] += 9.9
    assert await kept.get(read) == 1 and reads == 1
    now[0] += 0.2
    assert await kept.get(read) == 2 and reads == 2


async def test_an_incomplete_value_is_kept_for_a_moment_only() -> None:
    now = [0.0]
    kept: KeptRead[dict[str, list[str]]] = KeptRead(10.0, clock=lambda: now[0])
    answers = iter([{"missing": ["analytics"]}, {"missing": []}, {"missing": ["order"]}])

    async def read() -> dict[str, list[str]]:
        return next(answers)

    def complete(value: dict[str, list[str]]) -> bool:
        return not value["missing"]

    assert await kept.get(read, complete) == {"missing": ["analytics"]}
    now[0] = 1.9
    assert await kept.get(read, complete) == {"missing": ["analytics"]}  # kept 2 s
    now[0] = 2.1
    assert await kept.get(read, complete) == {"missing": []}  # read again, kept 10 s
    now[0] = 12.0
    assert await kept.get(read, complete) == {"missing": []}
