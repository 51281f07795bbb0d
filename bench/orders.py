"""Orders per second through the gateway to CONFIRMED, on PostgreSQL, Redis and the embedded
broker, with the baselines it is compared with, a flash sale and the section 5 invariants.

    PYTHONPATH=. .venv/bin/python -m bench.orders            # the whole run, ~10 minutes
    PYTHONPATH=. .venv/bin/python -m bench.orders --quick    # a smoke run, ~3 minutes

The suite is started as `make run` starts it (tools.launched) on fresh databases. Open loop:
orders arrive at each offered rate whatever the suite answers; the ramp stops once a step's
confirmed/s is not 5% above the best so far, or its p99 passes --max-p99-ms. Outcomes are read
off `order.events` (no polling). Writes bench/results/orders.json, orders.png, flash_sale.json
(and profile-<service>.speedscope.json with --profile). It measures; it does not pass or fail,
except that it exits 1 when an invariant does not hold.
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

from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from bench import report
from bench.broker import round_trip
from bench.cpu import CpuMeter, hottest_service
from bench.databases import ServiceDatabases, service_databases
from bench.flash_sale import GATEWAY_ENV as FLASH_GATEWAY_ENV
from bench.flash_sale import FlashFigures, flash_sale
from bench.invariants import Check, check_all, compensations
from bench.load import StepFigures, StepRun, run_step, step_figures
from bench.profile import record, top_functions
from bench.storefront import Headers, Storefront, no_op_baseline
from bench.tracker import OrderTracker
from chassis.testing import infra
from tools.launched import LaunchedSuite, launched_suite
from tools.suite import ROOT, SERVICES

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
}


class Bench:
    """One run against one launched suite."""

    def __init__(self, suite: LaunchedSuite, dbs: ServiceDatabases, options: Options) -> None:
        self.suite, self.dbs, self.options = suite, dbs, options
        self.store = Storefront(suite.gateway, options.clients, options.connections)
        self.tracker = OrderTracker(suite.kafka_bootstrap)
        self.accepted: list[str] = []  # every order id that got a 2xx
        self.figures: dict[str, Any] = {"environment": environment(options)}

    async def run(self) -> bool:
        await self.tracker.start()
        try:
            admin = await self.store.login(self.suite.admin_email, self.suite.admin_password)
            if self.options.scenario in ("all", "ramp"):
                await self.baselines()
                await self.ramp(admin)
            if self.options.scenario in ("all", "flash-sale"):
                await self.flash(admin)
            checks = await check_all(self.dbs, self.accepted, self.options.grace)
        finally:
            await self.tracker.stop()
            await self.store.close()
        return self.finish(checks)

    async def baselines(self) -> None:
        opts = self.options
        console.rule("baselines")
        concurrency = opts.clients * opts.connections // 4
        meter = CpuMeter(self.suite.pids())
        await asyncio.sleep(opts.baseline_seconds)
        idle = {k: v / meter.seconds for k, v in meter.lap().items()}
        gateway = await no_op_baseline(self.store, opts.baseline_seconds, concurrency)
        gateway.gateway_cpu_ms = meter.lap()["gateway"] * 1000 / max(gateway.requests, 1)
        self.figures["idle_cpu_seconds_per_s"] = idle
        console.print(report.key_value_table("idle: CPU seconds per second", idle.items()))
        broker = await round_trip(self.suite.kafka_bootstrap, opts.flood, opts.pings)
        self.figures["baselines"] = {"gateway_healthz": gateway, "broker_round_trip": broker}
        rows = [("gateway GET /healthz req/s", gateway.requests_per_s)]
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
        meter = CpuMeter(self.suite.pids())
        steps: list[StepFigures] = []
        console.rule("open-loop ramp")
        for rate in self.options.rates:
            steps.append(await self.step(meter, members, skus, rate, self.options.step_seconds))
            console.print(report.steps_table(steps[-1:]))
            if reason := stop_reason(steps, self.options.max_p99_ms):
                console.print(f"[bold]ramp stops:[/] {reason}")
                break
        console.print(report.steps_table(steps))
        console.print(report.cpu_table(steps))
        self.figures["steps"] = steps
        best = max(steps, key=lambda s: s.confirmed_per_s)
        self.figures["best"] = ratios(best, self.figures.get("baselines", {}))
        if self.options.profile != "none":
            await self.profile(meter, members, skus, best)

    async def step(
        self,
        meter: CpuMeter,
        members: list[Headers],
        skus: list[str],
        rate: float,
        seconds: float,
    ) -> StepFigures:
        run = StepRun(rate, seconds)
        meter.lap()
        async with self.watching(run, f"{rate:g} orders/s for {seconds:g} s"):
            await run_step(self.store, members, skus, run)
        cpu = meter.lap()
        ids = [s.order_id for s in run.accepted if s.order_id]
        self.accepted += ids
        with console.status(f"waiting for the outcomes of {len(ids)} orders ..."):
            await self.tracker.settle(ids, self.options.grace)
        figures = step_figures(run, self.tracker)
        figures.cpu_seconds, figures.cpu_window_seconds = cpu, meter.seconds
        figures.compensated = await compensations(self.dbs, ids)
        return figures

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
        console.print(report.top_table(service, top))
        console.print(f"flame graph: {output} (open it in https://www.speedscope.app)")
        self.figures["profile"] = {"service": service, "step": step, "top": top}

    async def flash(self, admin: Headers) -> None:
        opts = self.options
        console.rule(f"flash sale: {opts.flash_buyers} buyers, {opts.flash_units} units")
        with console.status(f"registering {opts.flash_buyers} buyers, then all buy at once ..."):
            figures, accepted = await flash_sale(
                self.store,
                self.tracker,
                self.dbs,
                admin,
                buyers=opts.flash_buyers,
                units=opts.flash_units,
                concurrency=opts.register_concurrency,
                grace=opts.grace,
            )
        self.accepted += accepted
        console.print(report.flash_table(figures))
        self.figures["flash_sale"] = figures

    def finish(self, checks: list[Check]) -> bool:
        console.print(report.checks_table(checks))
        self.figures["invariants"] = checks
        flash: FlashFigures | None = self.figures.pop("flash_sale", None)
        if "steps" in self.figures:
            report.write_json(RESULTS / "orders.json", self.figures)
            report.write_plot(RESULTS / "orders.png", self.figures["steps"])
        if flash is not None:
            flash_json = {"environment": self.figures["environment"], "flash_sale": flash}
            report.write_json(RESULTS / "flash_sale.json", {**flash_json, "invariants": checks})
        return all(c.ok for c in checks) and (flash is None or flash.ok)


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


def environment(options: Options) -> dict[str, Any]:
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
        "load_average_at_start": os.getloadavg(),
        "options": options,
        "suite_env": {**BENCH_ENV, **options.env},
    }


async def bench(options: Options) -> bool:
    with infra.postgres_admin_url() as admin_url, infra.redis_url() as redis_url:
        async with service_databases(admin_url, DATABASES) as dbs:
            data_dir = Path(tempfile.mkdtemp(prefix="bench-orders-"))
            console.print(f"starting the suite (logs in {data_dir}) ...")
            env = {**BENCH_ENV, **options.env}
            with launched_suite(
                data_dir, databases=dbs.urls, redis_url=redis_url, extra_env=env
            ) as suite:
                ok = await Bench(suite, dbs, options).run()
    if not options.keep:
        shutil.rmtree(data_dir, ignore_errors=True)  # kept when the run failed
    return ok


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
    add("--keep", action="store_true", help="keep the suite's data folder (logs) afterwards")
    add("--env", action="append", default=[], metavar="KEY=VALUE", help="suite setting")
    args = parser.parse_args(argv)
    chosen = {k: v for k, v in vars(args).items() if v is not None and k not in ("quick", "env")}
    settings = {**(QUICK if args.quick else {}), **chosen}
    settings["env"] = dict(item.split("=", 1) for item in args.env)
    return Options(**settings)


def rates(text: str) -> list[float]:
    return [float(r) for r in text.split(",") if r]


def main() -> None:
    options = parse_options()
    sys.exit(0 if asyncio.run(bench(options)) else 1)


if __name__ == "__main__":
    main()
