"""One SQL statement of the code under test held until the test lets it go: a race between two
transactions, made to happen the same way every run.

    with pause_statement(runtime.database, lambda sql: "FROM allocations" in sql) as pause:
        first = asyncio.create_task(use_case_a())
        await pause.reached.wait()        # A ran up to that statement and waits there
        second = asyncio.create_task(use_case_b())
        await asyncio.wait([second], timeout=1)   # B runs, or blocks on A's locks
        pause.go.set()

The hook runs inside SQLAlchemy's greenlet, where it may await (`await_only`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.util import await_only

from chassis.db import Database


@dataclass
class Pause:
    """`reached` is set when the statement is about to run (or has run, with `after`); it
    waits until `go` is set. Only the first matching statement is held."""

    reached: asyncio.Event = field(default_factory=asyncio.Event)
    go: asyncio.Event = field(default_factory=asyncio.Event)
    armed: bool = True


@contextmanager
def pause_statement(
    database: Database, match: Callable[[str], bool], *, after: bool = False
) -> Iterator[Pause]:
    """Hold the first statement of `database` whose SQL `match`es, before it runs (or right
    after, with `after`), until the test sets `pause.go`."""
    pause = Pause()

    def hold(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if pause.armed and match(statement):
            pause.armed = False
            pause.reached.set()
            await_only(pause.go.wait())

    name = "after_cursor_execute" if after else "before_cursor_execute"
    engine = database.engine.sync_engine
    event.listen(engine, name, hold)
    try:
        yield pause
    finally:
        pause.go.set()  # never leave the code under test waiting
        event.remove(engine, name, hold)
