"""One chaos run: private PostgreSQL and Redis, the suite launched on them as `make run`
starts it, members and products seeded through the gateway, then each fault in turn under a
steady order load, each followed by a drain and the checks."""

from __future__ import annotations

import asyncio
import contextlib
import shutil
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bench.chaos import report
from bench.chaos.checks import drain, judge
from bench.chaos.faults import Fault, FaultError, Injected, Target
from bench.chaos.servers import private_postgres, private_redis
from bench.chaos.subscriber import EventSubscriber
from bench.chaos.traffic import SteadyLoad
from bench.databases import ServiceDatabases, service_databases
from bench.orders import BENCH_ENV, DATABASES, RESULTS, environment
from bench.report import console
from bench.storefront import Headers, Storefront
from bench.tracker import OrderTracker
from chassis.producer import EventProducer
from tools.invariants import TERMINAL
from tools.launched import LaunchedSuite, launched_suite
from tools.suite.infra import EMBEDDED_BROKER_SESSION_TIMEOUT_MS


@dataclass
class Options:
    faults: list[str]
    runs: int = 3
    rate: float = 3.0  # orders/s: about half of what the suite confirms on 2 cores
    members: int = 8
    products: int = 4
    stock: int = 1_000_000
    warmup_seconds: float = 2.0  # load before the fault
    after_seconds: float = 2.0  # load after the suite has recovered
    recovery_timeout: float = 90.0  # give up waiting for an order confirmed after the fault
    drain_timeout: float = 120.0  # the saga timeout (30 s) and then some
    # KAFKA_SESSION_TIMEOUT_MS for the run: the launcher's (the broker fault outlasts it).
    session_timeout_ms: int = EMBEDDED_BROKER_SESSION_TIMEOUT_MS
    keep: bool = False
    env: dict[str, str] = field(default_factory=dict)

    def suite_env(self) -> dict[str, str]:
        return {
            **BENCH_ENV,
            "KAFKA_SESSION_TIMEOUT_MS": str(self.session_timeout_ms),
            **self.env,
        }


class Chaos:
    """The faults against one launched suite; `results` grows by one per injection."""

    def __init__(
        self,
        suite: LaunchedSuite,
        dbs: ServiceDatabases,
        target: Target,
        faults: dict[str, Fault],
        options: Options,
    ) -> None:
        self.suite, self.dbs, self.target, self.faults = suite, dbs, target, faults
        self.options = options
        self.store = Storefront(suite.gateway, clients=2, connections=32)
        self.tracker = OrderTracker(suite.kafka_bootstrap)
        self.results: list[report.RunResult] = []

    async def run(self) -> None:
        await self.tracker.start()
        await self.target.subscriber.start()
        try:
            members, skus = await self.seed()
            for run in range(1, self.options.runs + 1):
                for name in self.options.faults:  # round robin: one service's kills spread out
                    result = await self.inject(self.faults[name], run, members, skus)
                    self.results.append(result)
                    console.print(report.run_line(result))
        finally:
            await self.target.subscriber.stop()
            await self.tracker.stop()
            await self.store.close()

    async def seed(self) -> tuple[list[Headers], list[str]]:
        opts = self.options
        with console.status(f"seeding {opts.products} products and {opts.members} members ..."):
            admin = await self.store.login(self.suite.admin_email, self.suite.admin_password)
            skus = [await self.store.product(admin, opts.stock) for _ in range(opts.products)]
            members = await self.store.members(opts.members, concurrency=2)
        return members, skus

    async def inject(
        self, fault: Fault, run: int, members: list[Headers], skus: list[str]
    ) -> report.RunResult:
        opts = self.options
        console.rule(f"{fault.name} #{run}")
        load = SteadyLoad(self.store, members, skus, opts.rate)
        error, began = None, time.perf_counter()
        before = self.target.injected.totals()
        async with self.progress(load, fault.name) as phase:
            load.start()
            await asyncio.sleep(opts.warmup_seconds)
            phase("fault")
            began = time.perf_counter()
            try:
                await fault.inject(self.target)
            except FaultError as exc:
                error = str(exc)
            cleared = time.perf_counter()
            phase("recovering")
            recovery = await self.recovery(load, cleared)
            phase("load after recovery")
            await asyncio.sleep(opts.after_seconds)
            await load.stop()
            accepted = load.accepted_ids()
            phase("draining")
            drained = await drain(self.dbs, accepted, opts.drain_timeout)
            phase("checking")
            checks, duplicated = await judge(
                self.dbs,
                accepted,
                self.target.subscriber,
                self.suite.kafka_bootstrap,
                self.target.injected,
                grace=5.0,
            )
        lost = await self.lost(accepted)
        return report.RunResult(
            fault=fault.name,
            run=run,
            sent=len(load.sent),
            accepted=len(accepted),
            lost=lost,
            duplicated_effects=duplicated,
            recovery_s=recovery,
            drained_s=drained,
            fault_s=cleared - began,
            slowest_answer_s=max((s.answered - s.started for s in load.sent), default=0.0),
            outcomes=self.outcomes(accepted),
            http_errors=dict(Counter(s.status for s in load.sent if not s.order_id)),
            broken=[c for c in checks if not c.ok],
            error=error,
            injected={
                k: v - before[k] for k, v in self.target.injected.totals().items() if v > before[k]
            },
        )

    async def recovery(self, load: SteadyLoad, cleared: float) -> float | None:
        """Seconds from the fault's end until an order sent after it is CONFIRMED (read off
        order.events), the load running meanwhile; None if none is within the timeout."""
        deadline = cleared + self.options.recovery_timeout
        while time.perf_counter() < deadline:
            confirmed = [
                o.at
                for s in load.sent_after(cleared)
                if (o := self.tracker.outcomes.get(s.order_id or "")) and o.status == "CONFIRMED"
            ]
            if confirmed:
                return min(confirmed) - cleared
            await asyncio.sleep(0.2)
        return None

    async def lost(self, accepted: Sequence[str]) -> int:
        """Accepted orders that are not in a terminal state (or not there at all)."""
        terminal = await self.dbs.scalar(
            "order",
            "SELECT count(*) FROM orders WHERE id = ANY($1::text[]) AND status = ANY($2::text[])",
            list(accepted),
            sorted(TERMINAL),
        )
        return len(accepted) - int(terminal)

    def outcomes(self, accepted: Sequence[str]) -> dict[str, int]:
        found = (self.tracker.outcomes.get(order_id) for order_id in accepted)
        return dict(
            Counter(
                f"{o.status}:{o.reason}" if o and o.reason else (o.status if o else "none")
                for o in found
            )
        )

    @contextlib.asynccontextmanager
    async def progress(self, load: SteadyLoad, label: str) -> AsyncIterator[Any]:
        """A live line: the phase, orders sent, 2xx and outcomes so far."""
        columns = (SpinnerColumn(), TextColumn("{task.description} {task.fields[detail]}"))
        with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(label, total=None, detail="")
            phase = ["warm-up"]

            async def tick() -> None:
                while True:
                    accepted = load.accepted_ids()
                    done = sum(1 for o in accepted if o in self.tracker.outcomes)
                    detail = (
                        f"[{phase[0]}] sent {len(load.sent)}, 2xx {len(accepted)}, outcomes {done}"
                    )
                    bar.update(task, detail=detail)
                    await asyncio.sleep(0.5)

            ticker = asyncio.create_task(tick())
            try:
                yield lambda name: phase.__setitem__(0, name)
            finally:
                ticker.cancel()


async def chaos(options: Options, faults: dict[str, Fault]) -> list[report.RunResult]:
    data_dir = Path(tempfile.mkdtemp(prefix="chaos-"))
    console.print(f"data, logs and the private servers under {data_dir}")
    started = time.perf_counter()
    results: list[report.RunResult] = []
    with private_postgres(data_dir / "postgres") as postgres, private_redis(data_dir) as redis:
        async with service_databases(postgres.admin_url, DATABASES) as dbs:
            console.print(
                f"private PostgreSQL :{postgres.port}, Redis :{redis.port}; starting the suite ..."
            )
            with launched_suite(
                data_dir / "suite",
                databases=dbs.urls,
                redis_url=redis.url,
                extra_env=options.suite_env(),
            ) as suite:
                producer = EventProducer(suite.kafka_bootstrap)
                await producer.start()
                target = Target(
                    suite,
                    postgres,
                    redis,
                    EventSubscriber(suite.kafka_bootstrap),
                    producer,
                    Injected(),
                    options.session_timeout_ms / 1000,
                )
                runner = Chaos(suite, dbs, target, faults, options)
                try:
                    await runner.run()
                finally:
                    results = runner.results
                    await producer.stop()
    figures = environment(options)  # bench.orders' record of the machine and the commit
    figures.update(
        suite_env=options.suite_env(),
        orders_per_s=options.rate,
        wall_seconds=time.perf_counter() - started,
    )
    console.print(report.table(results))
    report.write(RESULTS, results, figures)
    if not options.keep and all(not r.breaks and not r.lost for r in results):
        shutil.rmtree(data_dir, ignore_errors=True)
    return results
