"""A service's stop runs every step, in order, even after one of them failed: a consumer
group whose stop raised (a broker that hung) must not keep the relay from draining, the
`on_stop` hooks from running, nor Redis and the database from being closed."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from chassis.app import ServiceSpec, _serving
from chassis.settings import ServiceSettings


async def test_every_stop_step_runs_after_one_failed_and_the_failure_is_raised() -> None:
    ran: list[str] = []

    async def consumers_stop() -> None:
        ran.append("consumers")
        raise RuntimeError("the broker did not answer")

    async def relay_stop() -> None:
        ran.append("relay")

    async def on_stop(_runtime: object) -> None:
        ran.append("on_stop")
        raise ValueError("a hook failed too")

    async def close() -> None:
        ran.append("close")

    spec = ServiceSpec(settings=ServiceSettings(), title="test", on_stop=[on_stop])
    with pytest.raises(RuntimeError, match="broker"):  # the first failure
        async with _serving(
            FastAPI(),
            spec,
            object(),  # type: ignore[arg-type]
            stop_first=(consumers_stop, relay_stop),
            close_last=(close,),
        ):
            pass
    assert ran == ["consumers", "relay", "on_stop", "close"]
