"""Orders per second through the gateway to CONFIRMED, on PostgreSQL, Redis and the embedded
broker, with the baselines it is compared with, a flash sale and the suite's invariants
(`tools/invariants.py`).

    PYTHONPATH=. .venv/bin/python -m bench.orders            # the whole run, ~10 minutes
    PYTHONPATH=. .venv/bin/python -m bench.orders --quick    # a smoke run, ~3 minutes

The suite is started as `make run` starts it (tools.launched) on fresh databases. Open loop:
orders arrive at each offered rate whatever the suite answers; the ramp stops once a step's
confirmed/s is not 5% above the best so far, or its p99 passes --max-p99-ms. Outcomes are read
off `order.events` (no polling). Writes bench/results/orders.json, orders.png, flash_sale.json
(and profile-<service>.speedscope.json with --profile). It measures; it does not pass or fail,
except that it exits 1 when an invariant does not hold.

CPU per confirmed order. Each step's CPU is read per process (bench.cpu: the gateway, each
service, the broker, the mail catcher from /proc; every PostgreSQL process and the Redis server
with psutil) over the step's load window PLUS a drain: after the last request of the step has
its answer, the meter runs on until every order the step placed is decided (its outcome on
`order.events`, at most --grace s), then until the suite's own processes are back near their
idle rate (measured before the ramp; at most --drain-max s), so that the work that follows an
outcome (stock commit, capture, mail) is counted too. That CPU, divided by the orders of the
step that were confirmed, is "CPU ms per confirmed order"; the sum row adds every process of
the suite and its infrastructure (not the bench client, not the machine total). It includes
what the suite spends idle over the same time (consumer fetch loops): the "of which idle" row
is the idle rate times that time, per order. The idle rate is the settled one (consumers that
have seen no record for KAFKA_QUIET_SECONDS poll less, chassis/poll_pace.py); under load they
poll at their busy pace, so that row is a lower bound of the fixed cost. Caveats: PostgreSQL
and Redis are shared with whatever else runs on the machine (their rows count all of their
processes); a PostgreSQL backend that ends during a step loses its last CPU (the table's notes
say when); the window-only table (CPU seconds over the step's wall time) is kept, and is a
lower bound.

Product views. Each order of a step comes with --views-per-order (default 4, a storefront
funnel) `GET /api/v1/products/{id}` of its member, spread evenly between orders on the same
session; each step prints their views/s, p50/p99 and errors (orders.json's steps carry them).
`--views-per-order 0` sends orders only. Issue 12's check that the view events do not slow
orders is the same run with `--env CATALOG_BEACON_ENABLED=false` (views served, none published)
against the default.

`--databases postgres,sqlite` runs the ramp a second time with the services on SQLite files in
a temporary folder (what `make run` uses when no `<PREFIX>DATABASE_URL` is set), idle figure and
invariants included, and prints both side by side; the first database named runs everything
else (baselines, flash sale, profile). `--baseline FILE` prints the run against a saved
orders.json (and the flash_sale.json beside it): bench/results/baseline-2026-12-01/ holds the
figures of 2026-12-01.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bench import compare, report
from bench.broker import round_trip
from bench.cpu import (
    NOT_SUITE,
    CpuMeter,
    ProcessGroup,
    add,
    hottest_service,
    postgres_group,
    redis_group,
    suite_total,
)
from bench.databases import Databases, SqliteDatabases, service_databases
from bench.flash_sale import GATEWAY_ENV as FLASH_GATEWAY_ENV
from bench.flash_sale import FlashFigures, flash_sale
from bench.invariants import Check, check_all, compensations
from bench.load import StepFigures, StepRun, run_step, step_figures
from bench.profile import record, top_functions
from bench.storefront import Headers, Storefront, no_op_baseline
from bench.tracker import OrderTracker
from chassis.settings import ServiceSettings
from chassis.testing import infra
from tools.launched import LaunchedSuite, launched_suite
from tools.suite.places import ROOT
from tools.suite.services import SERVICES

RESULTS = Path(__file__).parent / "results"
DATABASES = [row.name for row in SERVICES if row.name != "gateway"]  # the gateway keeps none
UNLIMITED = str(10**9)
# Lifted for the benchmark: the gateway's rate limits (every client is 127.0.0.1), payment's
# velocity rule (a member pays at most 10 times an hour) and short access tokens.
BENCH_ENV = {
    "GATEWAY_RATE_PER_CLIENT_PER_MINUTE": UNLIMITED,
    "GATEWAY_RATE_PER_MEMBER_PER_MINUTE": UNLIMITED,
    "PAYMENT_RISK_VELOCITY_MAX": UNLIMITED,
    "MEMBERSHIP_ACCESS_TTL_SECONDS": "7200",
    **FLASH_GATEWAY_ENV,
}
console = report.console
# How long consumers wait without a record before they slow their polling (the suite's default).
QUIET_SECONDS = ServiceSettings().kafka_quiet_seconds
IDLE_SECONDS = 20.0  # the idle figure's window (at least; --baseline-seconds if longer)
IDLE_TARGET_CORES = 0.1  # the whole idle suite, infrastructure included
QUIET_MARGIN_CORES = 0.15  # "back near idle": the suite's processes at most this above idle
DATABASE_KINDS = ("postgres", "sqlite")


@dataclass
class Options:
    scenario: str = "all"  # all, ramp, flash-sale
    # Per order the suite spends ~90 ms of CPU (all services, broker, client), so 2 cores top
    # out near 20/s: the steps start well below that and go past it.
    rates: list[float] = field(default_factory=lambda: [5, 10, 15, 20, 30, 40, 60, 80, 120])
    step_seconds: float = 15.0
    grace: float = 30.0
    max_p99_ms: float = 10_000.0
    members: int = 32
    products: int = 8
    stock: int = 1_000_000
    views_per_order: int = 4  # storefront product views per order, by the ordering member
    clients: int = 4
    connections: int = 64
    register_concurrency: int = 4  # argon2 runs in membership's threads: 2 cores
    baseline_seconds: float = 5.0
    flood: int = 20_000
    pings: int = 300
    flash_buyers: int = 2_000
    flash_units: int = 100
    profile: str = "auto"  # a service name, auto (the hottest) or none
    profile_seconds: int = 10
    drain_max: float = 10.0  # at most this long for the suite to quieten after a step
    login_concurrency: int = 8  # flash-sale buyers logging in at once
    flash_setup: str = "insert"  # insert (bench.buyers) or register (through the API)
    databases: list[str] = field(default_factory=lambda: list(DATABASE_KINDS))
    baseline: str = ""  # a saved orders.json to compare with
    env: dict[str, str] = field(default_factory=dict)
    keep: bool = False


QUICK = {
    "rates": [5, 10],
    "step_seconds": 4.0,
    "grace": 20.0,
    "members": 10,
    "products": 3,
    "baseline_seconds": 2.0,
    "flood": 2_000,
    "pings": 100,
    "flash_buyers": 200,
    "profile_seconds": 4,
    "drain_max": 5.0,
    "databases": ["postgres"],
}


class Bench:
    """One run against one launched suite. The primary run does what --scenario asks; another
    (a second database) only the idle figure, the ramp and the invariants."""

    def __init__(
        self,
        suite: LaunchedSuite,
        dbs: Databases,
        options: Options,
        redis_url: str,
        primary: bool = True,
    ) -> None:
        self.suite, self.dbs, self.options, self.primary = suite, dbs, options, primary
        self.store = Storefront(suite.gateway, options.clients, options.connections)
        self.tracker = OrderTracker(suite.kafka_bootstrap)
        self.accepted: list[str] = []  # every order id that got a 2xx
        self.figures: dict[str, Any] = {"environment": environment(options, dbs.kind)}
        self.groups = infrastructure(suite, dbs, redis_url)
        self.idle_suite_cores = 1.0  # the suite's own processes idle; measured by idle()
        self.idle_cores = 0.0  # everything idle, infrastructure included
        self.checks: list[Check] = []
        self.flash_figures: FlashFigures | None = None
        self.finish_ok = False

    def meter(self) -> CpuMeter:
        return CpuMeter(self.suite.pids(), self.groups)

    async def run(self) -> bool:
        scenario = self.options.scenario if self.primary else "ramp"
        try:
            admin = await self.store.login(self.suite.admin_email, self.suite.admin_password)
            if scenario in ("all", "ramp"):
                # Before the bench's own order tracker starts: it fetches every 50 ms, and the
                # broker's answers to it are no part of what the idle suite costs.
                await self.idle()
            await self.tracker.start()
            if scenario in ("all", "ramp"):
                if self.primary:
                    await self.baselines()
                await self.ramp(admin)
            if scenario in ("all", "flash-sale"):
                await self.flash(admin)
            checks = await check_all(self.dbs, self.accepted, self.options.grace)
        finally:
            await self.tracker.stop()
            await self.store.close()
        return self.finish(checks)

    async def idle(self) -> None:
        """CPU cores the suite uses doing nothing: every process, infrastructure included.
        Measured once the consumers have settled: after KAFKA_QUIET_SECONDS without a record
        they lengthen their waits (chassis/poll_pace.py), and the start-up's own events (topics,
        seeding) are only just behind them here."""
        console.rule(f"idle ({self.dbs.kind})")
        await asyncio.sleep(QUIET_SECONDS + 1.0)
        meter = self.meter()
        # Long enough that the clock ticks (10 ms of CPU) of a process polling a few times a
        # second average out: over 5 s one tick more is 0.002 of a core per process.
        await asyncio.sleep(max(self.options.baseline_seconds, IDLE_SECONDS))
        idle = {k: v / meter.seconds for k, v in meter.lap().items()}
        self.idle_cores = suite_total(idle)
        groups = {g.name for g in self.groups}
        self.idle_suite_cores = sum(v for k, v in idle.items() if k not in (*NOT_SUITE, *groups))
        self.figures["idle_cpu_seconds_per_s"] = idle
        self.figures["idle_cores"] = self.idle_cores
        self.figures["idle_notes"] = meter.notes
        console.print(report.key_value_table("idle: CPU seconds per second", idle.items()))
        console.print(report.idle_line(self.idle_cores, IDLE_TARGET_CORES, meter.notes, idle))

    async def baselines(self) -> None:
        opts = self.options
        console.rule("baselines")
        concurrency = opts.clients * opts.connections // 4
        meter = CpuMeter(self.suite.pids())
        gateway = await no_op_baseline(self.store, opts.baseline_seconds, concurrency)
        gateway.gateway_cpu_ms = meter.lap()["gateway"] * 1000 / max(gateway.requests, 1)
        broker = await round_trip(self.suite.kafka_bootstrap, opts.flood, opts.pings)
        self.figures["baselines"] = {"gateway_healthz": gateway, "broker_round_trip": broker}
        rows: list[tuple[str, Any]] = [("gateway GET /healthz req/s", gateway.requests_per_s)]
        rows += [("  p50 / p99 ms", f"{gateway.p50_ms:.1f} / {gateway.p99_ms:.1f}")]
        rows += [("  gateway CPU ms per request", gateway.gateway_cpu_ms)]
        rows += [("broker produce→consume msg/s", broker.messages_per_s)]
        rows += [
            ("  one at a time p50 / p99 ms", f"{broker.ping_p50_ms:.1f} / {broker.ping_p99_ms:.1f}")
        ]
        console.print(report.key_value_table(f"closed loop, {concurrency} workers", rows))

    async def seed(self, admin: Headers) -> tuple[list[str], list[Headers]]:
        opts = self.options
        with console.status(f"seeding {opts.products} products, {opts.members} members ..."):
            skus = [await self.store.product(admin, opts.stock) for _ in range(opts.products)]
            started = time.perf_counter()
            members = await self.store.members(opts.members, opts.register_concurrency)
        took = time.perf_counter() - started
        console.print(f"{opts.members} members registered and logged in in {took:.1f} s")
        return skus, members

    async def ramp(self, admin: Headers) -> None:
        skus, members = await self.seed(admin)
        meter = self.meter()
        steps: list[StepFigures] = []
        console.rule(f"open-loop ramp ({self.dbs.kind})")
        for rate in self.options.rates:
            steps.append(await self.step(meter, members, skus, rate, self.options.step_seconds))
            console.print(report.steps_table(steps[-1:]))
            if steps[-1].views:
                console.print(report.views_table(steps[-1:]))
            if reason := stop_reason(steps, self.options.max_p99_ms):
                console.print(f"[bold]ramp stops:[/] {reason}")
                break
        console.print(report.steps_table(steps))
        if any(s.views for s in steps):
            console.print(report.views_table(steps))
        console.print(report.cpu_table(steps))
        console.print(report.cpu_per_order_table(steps, self.dbs.kind))
        self.figures["steps"] = steps
        best = max(steps, key=lambda s: s.confirmed_per_s)
        self.figures["best"] = ratios(best, self.figures.get("baselines", {}))
        if self.options.profile != "none" and self.primary:
            await self.profile(meter, members, skus, best)

    async def step(
        self,
        meter: CpuMeter,
        members: list[Headers],
        skus: list[str],
        rate: float,
        seconds: float,
    ) -> StepFigures:
        run = StepRun(rate, seconds, self.options.views_per_order)
        meter.lap()
        async with self.watching(run, f"{rate:g} orders/s for {seconds:g} s"):
            await run_step(self.store, members, skus, run, self.store.product_ids)
        cpu, window = meter.lap(), meter.seconds
        notes = meter.notes
        ids = [s.order_id for s in run.accepted if s.order_id]
        self.accepted += ids
        with console.status(f"waiting for the outcomes of {len(ids)} orders ..."):
            await self.tracker.settle(ids, self.options.grace)
            await self.quiet()
        drain = meter.lap()
        figures = step_figures(run, self.tracker)
        figures.cpu_seconds, figures.cpu_window_seconds = cpu, window
        figures.cpu_drained_seconds = add(cpu, drain)
        figures.cpu_drained_window_seconds = window + meter.seconds
        figures.cpu_notes = {
            k: [f"load window: {n}" for n in notes.get(k, [])]
            + [f"drain: {n}" for n in meter.notes.get(k, [])]
            for k in {*notes, *meter.notes}
        }
        figures.idle_cores = self.idle_cores
        figures.compensated = await compensations(self.dbs, ids)
        return figures

    async def quiet(self) -> None:
        """After the step's orders are decided: until the suite's own processes are back near
        their idle rate (the commit, capture and mail that follow an outcome), at most
        --drain-max s, read every half second."""
        threshold = self.idle_suite_cores + QUIET_MARGIN_CORES
        probe = CpuMeter(self.suite.pids())
        deadline = time.monotonic() + self.options.drain_max
        while time.monotonic() < deadline:
            await asyncio.sleep(0.5)
            used = probe.lap()
            if suite_total(used) / probe.seconds <= threshold:
                return

    @contextlib.asynccontextmanager
    async def watching(self, run: StepRun, label: str) -> AsyncIterator[None]:
        """A progress line while the step runs: sent, 2xx, confirmed."""
        columns = (SpinnerColumn(), TextColumn("{task.description} {task.fields[detail]}"))
        with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as bar:
            task = bar.add_task(label, total=None, detail="")

            async def tick() -> None:
                while True:
                    done = sum(1 for s in run.accepted if s.order_id in self.tracker.outcomes)
                    detail = f"sent {len(run.sent)}, 2xx {len(run.accepted)}, outcomes {done}"
                    detail += f", views {len(run.views)}" if run.views_per_order else ""
                    bar.update(task, detail=detail)
                    await asyncio.sleep(0.5)

            ticker = asyncio.create_task(tick())
            try:
                yield
            finally:
                ticker.cancel()

    async def profile(
        self, meter: CpuMeter, members: list[Headers], skus: list[str], best: StepFigures
    ) -> None:
        """One more step at the best step's rate with py-spy on the hottest service (or the
        one named): not part of the ramp's figures, since sampling costs the target CPU."""
        service = self.options.profile
        if service == "auto":
            service = hottest_service(best.cpu_seconds)
        pid = self.suite.pids()[service]
        output = RESULTS / f"profile-{service}.speedscope.json"
        output.parent.mkdir(parents=True, exist_ok=True)
        console.rule(f"profile: py-spy on {service} (pid {pid}) at {best.offered_per_s:g}/s")
        seconds = self.options.profile_seconds
        sampler = await record(pid, seconds, output)
        step = await self.step(meter, members, skus, best.offered_per_s, seconds)
        _, errors = await sampler.communicate()
        if sampler.returncode != 0 or not output.exists():
            console.print(f"[red]py-spy failed:[/] {errors.decode(errors='replace')[-500:]}")
            return
        top = top_functions(output)
        console.print(report.steps_table([step]))
        if step.views:
            console.print(report.views_table([step]))
        console.print(report.top_table(service, top))
        console.print(f"flame graph: {output} (open it in https://www.speedscope.app)")
        self.figures["profile"] = {"service": service, "step": step, "top": top}

    async def flash(self, admin: Headers) -> None:
        opts = self.options
        console.rule(f"flash sale: {opts.flash_buyers} buyers, {opts.flash_units} units")

        meter: list[CpuMeter] = []

        def set_up(seconds: float, how: str) -> None:
            console.print(f"buyers set up in {seconds:.1f} s (before the sale): {how}")
            meter.append(self.meter())  # from the first request on

        with console.status(f"setting up {opts.flash_buyers} buyers, then all buy at once ..."):
            figures, accepted = await flash_sale(
                self.store,
                self.tracker,
                self.dbs,
                admin,
                buyers=opts.flash_buyers,
                units=opts.flash_units,
                concurrency=opts.register_concurrency,
                grace=opts.grace,
                setup=opts.flash_setup,
                login_concurrency=opts.login_concurrency,
                on_setup=set_up,
            )
        self.accepted += accepted
        if meter:
            used = meter[0].lap()
            self.figures["flash_sale_cpu_seconds"] = used
            console.print(
                report.key_value_table(
                    "flash sale: CPU seconds per process, first request to every order decided",
                    sorted(used.items(), key=lambda kv: -kv[1]),
                )
            )
        console.print(report.flash_table(figures))
        console.print(report.flash_target_table(figures))
        self.flash_figures = figures

    def finish(self, checks: list[Check]) -> bool:
        console.print(report.checks_table(checks))
        self.figures["invariants"] = self.checks = checks
        flash = self.flash_figures
        return all(c.ok for c in checks) and (flash is None or flash.ok)


def write_results(runs: list[Bench]) -> None:
    """orders.json: the first run's figures, each other database's under its name;
    flash_sale.json: the flash sale's."""
    primary, others = runs[0], runs[1:]
    figures = dict(primary.figures)
    for other in others:
        figures[other.dbs.kind] = {
            k: v for k, v in other.figures.items() if k not in ("environment", "best")
        }
    if "steps" in figures:
        report.write_json(RESULTS / "orders.json", figures)
        report.write_plot(RESULTS / "orders.png", figures["steps"])
    if primary.flash_figures is not None:
        flash_json = {"environment": figures["environment"], "flash_sale": primary.flash_figures}
        report.write_json(RESULTS / "flash_sale.json", {**flash_json, "invariants": primary.checks})


def infrastructure(
    suite: LaunchedSuite, dbs: Databases, redis_url: str
) -> tuple[ProcessGroup, ...]:
    """What the suite uses besides its own processes, measured as groups: PostgreSQL (when its
    databases are there) and the Redis server (unless the launcher started it: then it is one
    of the suite's PIDs)."""
    groups = [postgres_group()] if dbs.kind == "postgres" else []
    if "redis" not in suite.pids():
        groups.append(redis_group(urlsplit(redis_url).port or 6379))
    return tuple(groups)


def stop_reason(steps: Sequence[StepFigures], max_p99_ms: float) -> str | None:
    last = steps[-1]
    if not last.p99_ms <= max_p99_ms:
        return f"p99 {report.ms(last.p99_ms)} ms is above {max_p99_ms:,.0f} ms"
    best = max(s.confirmed_per_s for s in steps[:-1]) if len(steps) > 1 else 0.0
    if len(steps) > 1 and last.confirmed_per_s < best * 1.05:
        return f"confirmed/s {last.confirmed_per_s:.1f} is not 5% above the best {best:.1f}"
    return None


def ratios(best: StepFigures, baselines: dict[str, Any]) -> dict[str, float]:
    figures = {"offered_per_s": best.offered_per_s, "confirmed_per_s": best.confirmed_per_s}
    if gateway := baselines.get("gateway_healthz"):
        figures["vs_gateway_noop"] = best.confirmed_per_s / gateway.requests_per_s
    if broker := baselines.get("broker_round_trip"):
        figures["vs_broker_round_trip"] = best.confirmed_per_s / broker.messages_per_s
    console.print(report.key_value_table("best step, as a ratio to the baselines", figures.items()))
    return figures


def environment(options: Any, database: str = "postgres") -> dict[str, Any]:
    """The machine, the commit and the options (bench.chaos records its own with it)."""
    commit = subprocess.run(
        ["git", "rev-parse", "--short", "HEAD"],  # noqa: S607
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    ).stdout.strip()
    return {
        "when": time.strftime("%Y-%m-%d %H:%M:%S %z"),
        "commit": commit,
        "cores": os.cpu_count(),
        "database": database,
        "load_average_at_start": os.getloadavg(),
        "options": options,
        "suite_env": {**BENCH_ENV, **options.env},
    }


async def bench(options: Options) -> bool:
    runs: list[Bench] = []
    ok = True
    with infra.redis_url() as redis_url:
        for index, kind in enumerate(options.databases):
            run = await run_on(kind, options, redis_url, primary=index == 0)
            ok = run.finish_ok and ok
            runs.append(run)
    if not runs:
        return ok
    if len(runs) > 1:
        console.print(report.databases_table({r.dbs.kind: r.figures for r in runs}))
    write_results(runs)
    if options.baseline:
        current = report.plain({**runs[0].figures, "flash_sale": runs[0].flash_figures})
        compare.print_comparison(Path(options.baseline), current)
    return ok


async def run_on(kind: str, options: Options, redis_url: str, *, primary: bool) -> Bench:
    """The suite on fresh PostgreSQL databases, or on SQLite files in its data folder."""
    data_dir = Path(tempfile.mkdtemp(prefix=f"bench-orders-{kind}-"))
    env = {**BENCH_ENV, **options.env}
    console.rule(f"[bold]the suite on {kind}")
    console.print(f"starting the suite on {kind} (logs in {data_dir}) ...")
    async with contextlib.AsyncExitStack() as stack:
        dbs: Databases
        if kind == "postgres":
            admin_url = stack.enter_context(infra.postgres_admin_url())
            dbs = await stack.enter_async_context(service_databases(admin_url, DATABASES))
            urls = dbs.urls
        else:
            dbs, urls = SqliteDatabases(data_dir, DATABASES), {}  # tools.suite's default
        suite = stack.enter_context(
            launched_suite(data_dir, databases=urls, redis_url=redis_url, extra_env=env)
        )
        run = Bench(suite, dbs, options, redis_url, primary=primary)
        run.finish_ok = await run.run()
    if not options.keep:
        shutil.rmtree(data_dir, ignore_errors=True)  # kept when the run failed
    return run


def parse_options(argv: Sequence[str] | None = None) -> Options:
    defaults = Options()
    parser = argparse.ArgumentParser(prog="python -m bench.orders", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add = parser.add_argument
    add("--scenario", choices=["all", "ramp", "flash-sale"], default=defaults.scenario)
    add("--quick", action="store_true", help="a smoke run: 2 short steps, 200 flash buyers")
    add("--rates", type=rates, help="offered orders/s per step, e.g. 25,50,100")
    for name, value in vars(defaults).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            add(f"--{name.replace('_', '-')}", type=type(value), dest=name)
    add("--profile", help="service to profile with py-spy: a name, auto (default) or none")
    add(
        "--databases",
        type=databases,
        help="postgres,sqlite (default; --quick: postgres): the ramp on each, side by side",
    )
    add(
        "--flash-setup",
        choices=["insert", "register"],
        help="flash-sale buyers: inserted with one precomputed hash, then logged in (default),"
        " or registered through the API",
    )
    add("--baseline", metavar="FILE", help="a saved orders.json to print this run against")
    add("--keep", action="store_true", help="keep the suite's data folder (logs) afterwards")
    add("--env", action="append", default=[], metavar="KEY=VALUE", help="suite setting")
    args = parser.parse_args(argv)
    if args.views_per_order is not None and args.views_per_order < 0:
        parser.error("--views-per-order: 0 or more")
    chosen = {k: v for k, v in vars(args).items() if v is not None and k not in ("quick", "env")}
    settings = {**(QUICK if args.quick else {}), **chosen}
    settings["env"] = dict(item.split("=", 1) for item in args.env)
    return Options(**settings)


def rates(text: str) -> list[float]:
    return [float(r) for r in text.split(",") if r]


def databases(text: str) -> list[str]:
    kinds = [k.strip() for k in text.split(",") if k.strip()]
    if not kinds or any(k not in DATABASE_KINDS for k in kinds):
        raise argparse.ArgumentTypeError(f"one or more of {', '.join(DATABASE_KINDS)}")
    return kinds


def main() -> None:
    options = parse_options()
    sys.exit(0 if asyncio.run(bench(options)) else 1)


if __name__ == "__main__":
    main()
