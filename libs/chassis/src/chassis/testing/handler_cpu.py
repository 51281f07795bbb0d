"""The CPU-per-event bench of a service's handlers, on PostgreSQL, without a broker.

Each phase's records go through the chassis runner (`ConsumerRunner.handle_batch`: a poll of
`batch` records in one transaction) on a throwaway database migrated from the service's
migrations, and a line of figures is returned: the process CPU time (this process only:
Python, SQLAlchemy, asyncpg; not the server's) per event, inside the handlers and for the
whole runner, and the wall time. It measures; it asserts nothing. A service's script
(`services/<name>/tests/bench/handler_cpu.py`, run as `uv run --frozen python <script>
[-n 500] [--batch 50]`) only makes its own events:

    async def main(n: int, batch: int) -> None:
        async with postgres_bench(InventorySettings(), None, CONSUMERS,
                                  migrations=MIGRATIONS_DIR, batch=batch) as bench:
            await bench.run_phases([("commit (confirmed)", [order_confirmed(o) for o in ...])])

    if __name__ == "__main__":
        run_script(__doc__, main)
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import asyncpg
from sqlalchemy.engine import make_url

from chassis.consumer import ConsumerRunner, Delivery, EventConsumer, Handler
from chassis.logging import configure_logging
from chassis.producer import OutgoingRecord
from chassis.runtime import Runtime
from chassis.settings import ServiceSettings
from chassis.testing.events import Record, RecordingProducer, record_of
from chassis.testing.harness import offline_runtime
from chassis.testing.infra import LOCAL_POSTGRES
from shared_events import EventPayload

RuntimeT = TypeVar("RuntimeT", bound=Runtime[Any, Any])
SettingsT = TypeVar("SettingsT", bound=ServiceSettings)
StateT = TypeVar("StateT")


@dataclass
class CpuMeter:
    """CPU seconds spent inside the handlers it wraps: events are handled one at a time in
    this process, so the process CPU while a handler runs is that handler's."""

    seconds: float = 0.0

    def wrap(self, fn: Handler) -> Handler:
        async def handler(delivery: Delivery[Any], payload: Any) -> None:
            started = time.process_time()
            try:
                await fn(delivery, payload)
            finally:
                self.seconds += time.process_time() - started

        return handler

    def timed(self, consumer: EventConsumer) -> EventConsumer:
        """The same consumer with each handler measured."""
        handlers = {model: self.wrap(fn) for model, fn in consumer.handlers.items()}
        return EventConsumer(consumer.name, consumer.topic, handlers, consumer.registry)


@dataclass
class HandlerBench(Generic[RuntimeT]):
    """A service's consumers (one runner per topic) over `runtime`, each handler measured."""

    runtime: RuntimeT
    runners: dict[str, ConsumerRunner]
    meter: CpuMeter
    batch: int = 50

    @classmethod
    def of(
        cls, runtime: RuntimeT, consumers: Sequence[EventConsumer], *, batch: int = 50
    ) -> HandlerBench[RuntimeT]:
        meter = CpuMeter()
        runners = {
            consumer.topic: ConsumerRunner(
                meter.timed(consumer),
                runtime.database,
                runtime.producer,
                service=runtime.settings.service_name,
                outbox=runtime.outbox,
                runtime=runtime,
            )
            for consumer in consumers
        }
        return cls(runtime, runners, meter, batch)

    async def run(self, name: str, records: Sequence[Record]) -> str:
        """Hand `records` (all of one topic) to that topic's runner, `batch` per poll, and
        return the line of figures."""
        if not records:
            raise ValueError(f"{name}: no records to measure")
        topic = records[0].topic
        runner = self.runners.get(topic)
        if runner is None:
            raise LookupError(f"no consumer of {topic} (it has {sorted(self.runners)})")
        self.meter.seconds = 0.0
        dead_before = len(self.dead_letters)
        cpu, wall = time.process_time(), time.perf_counter()
        for start in range(0, len(records), self.batch):
            await runner.handle_batch(records[start : start + self.batch])
        cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
        n = len(records)
        line = (
            f"{name:<28} n={n:<5} cpu/event: in handler {1000 * self.meter.seconds / n:6.3f} ms,"
            f" whole runner {1000 * cpu / n:6.3f} ms   (wall {1000 * wall / n:6.3f} ms)"
        )
        # A failing handler makes the figures those of its error path: say so on the line.
        if dead := len(self.dead_letters) - dead_before:
            line += f"   {dead} DEAD-LETTERED"
        return line

    async def run_phases(self, phases: Sequence[tuple[str, Sequence[EventPayload]]]) -> None:
        """Each phase's events, in turn, as fresh records through `run`; prints its line."""
        for name, payloads in phases:
            print(await self.run(name, [record_of(payload) for payload in payloads]))

    @property
    def dead_letters(self) -> list[OutgoingRecord]:
        """What failing handlers dead-lettered (onto the runtime's recording producer)."""
        producer = self.runtime.producer
        return producer.dead_letters if isinstance(producer, RecordingProducer) else []


@asynccontextmanager
async def scratch_database(prefix: str, admin_url: str = LOCAL_POSTGRES) -> AsyncIterator[str]:
    """A new, empty PostgreSQL database (its async URL), dropped on exit."""
    admin = make_url(admin_url.replace("postgresql+asyncpg", "postgresql"))
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    connection = await asyncpg.connect(admin.render_as_string(hide_password=False))
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin.set(drivername="postgresql+asyncpg", database=name).render_as_string(
                hide_password=False
            )
        finally:
            await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


@asynccontextmanager
async def postgres_bench(
    settings: SettingsT,
    state: StateT,
    consumers: Sequence[EventConsumer],
    *,
    migrations: Path | None,
    batch: int = 50,
    admin_url: str = LOCAL_POSTGRES,
    log_level: str | None = "WARNING",
) -> AsyncIterator[HandlerBench[Runtime[SettingsT, StateT]]]:
    """The bench of `consumers` on a scratch PostgreSQL database migrated from `migrations`
    (the service's settings otherwise as given), with nothing started; it prints the header
    line. Logging is set to `log_level` (None: left as it is), so that by default the figures
    are the handlers' own cost, not log lines'."""
    service = settings.service_name
    if log_level is not None:
        configure_logging(service, level=log_level)
    async with scratch_database(f"bench_{service}", admin_url) as url:
        on_scratch = settings.model_copy(update={"database_url": url})
        async with offline_runtime(on_scratch, state, migrations=migrations) as runtime:
            print(f"{service} handlers on PostgreSQL, polls of {batch} records")
            yield HandlerBench.of(runtime, consumers, batch=batch)


def arguments(description: str | None, default_n: int = 500) -> argparse.Namespace:
    """A bench script's options: `-n` events per phase, `--batch` records per poll."""
    parser = argparse.ArgumentParser(
        description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("-n", type=int, default=default_n, help="events per phase")
    parser.add_argument("--batch", type=int, default=50, help="records per poll")
    return parser.parse_args()


# What every service's script does, said once: its own docstring says only what it measures.
EPILOG = """\
Runs N events of each phase through the chassis runner without a broker, on a scratch
PostgreSQL database, and prints the process CPU time per event (chassis.testing.handler_cpu).
Prints figures; asserts nothing."""


def run_script(
    description: str | None,
    main: Callable[[int, int], Coroutine[Any, Any, None]],
    default_n: int = 500,
) -> None:
    """A bench script's entry point: `main(n, batch)` with the command line's options."""
    args = arguments(f"{description or ''}\n{EPILOG}", default_n)
    asyncio.run(main(args.n, args.batch))
