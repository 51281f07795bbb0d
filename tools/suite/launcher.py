"""One run of the suite: start the servers and the services, wait for every `/readyz`, seed,
supervise, stop. What it starts is decided elsewhere (`services`, `infra`); what it prints, in
`console`."""

from __future__ import annotations

import math
import signal
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from types import FrameType
from typing import NoReturn

import httpx
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from tools.processes import exit_status, probe_readyz, spawn, stop_processes, tcp_open
from tools.seed import SeedError, SeedResult, seed_demo
from tools.suite import infra
from tools.suite.components import Component
from tools.suite.console import console, print_ready, seed_summary
from tools.suite.credentials import AdminCredentials, MemberCredentials
from tools.suite.errors import StopRequested, SuiteError
from tools.suite.places import LOG_DIR, ROOT, relative
from tools.suite.services import HOST, SERVICES, service_row, services_environment
from tools.supervisor import Child, EssentialLost, Supervisor

LISTEN_TIMEOUT_SECONDS = 20.0
STOP_GRACE_SECONDS = 10.0
SEED_LOGS = ("gateway", "membership", "catalog", "inventory")  # shown when the seed fails


class Suite:
    """What one `run` uses, in start order, so that what it started can be stopped."""

    def __init__(self) -> None:
        self.infrastructure: list[Component] = []
        self.services: list[Component] = []
        self.stop_signal: str | None = None
        self.phase = "starting"  # then "seeding", "supervising", "stopping" (its own /readyz)
        self.credentials = AdminCredentials.resolve()
        self.member = MemberCredentials.resolve()
        self.seeded: SeedResult | None = None  # None: not seeded in this run
        self.children: list[Child] = []  # what the supervisor watches once all are ready
        self.supervisor: Supervisor | None = None
        self.http = httpx.Client(timeout=1.0, trust_env=False)  # the supervisor's /readyz probes

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        """Signal handler: only sets a flag, which the waiting loops check."""
        self.stop_signal = self.stop_signal or signal.Signals(signum).name

    def check_stop(self) -> None:
        if self.stop_signal:
            raise StopRequested(self.stop_signal)

    def check(self) -> None:
        """Raise if a stop was requested or, while starting, a process this launcher started
        has exited (a crash at start is a setting to fix, not a blip to restart)."""
        self.check_stop()
        for component in [*self.infrastructure, *self.services]:
            if component.process and (status := exit_status(component.process)) is not None:
                raise component.failure(f"exited with status {status}")

    def sleep(self, seconds: float) -> None:
        """Wait; once supervising, the supervisor restarts what dies meanwhile."""
        if self.supervisor is None:
            time.sleep(seconds)
            self.check()
            return
        try:
            self.supervisor.run(seconds)
        except EssentialLost as lost:
            raise SuiteError(str(lost), lost.logs) from None
        self.check_stop()

    def readiness(self) -> dict[str, str]:
        """The launcher's own /readyz checks: "ok" once it supervises, and then each child it
        started, unless it is being restarted."""
        if self.phase != "supervising" or self.supervisor is None:
            return {"launcher": self.phase}
        restarting = [
            c.name for c in self.supervisor.children if c.restart_at is not None or c.awaiting_ready
        ]
        return {"launcher": "ok"} | {name: "restarting" for name in restarting}

    # Starting

    def start(self, broker_port: int, smtp_port: int | None, ready_timeout: float) -> None:
        for row in SERVICES:
            alternative = f"or set {row.variable('port')} to another port"
            infra.ensure_port_free(row.resolved_port(), row.name, alternative)
        mail = infra.MailServer.resolve(smtp_port)
        broker = infra.broker(broker_port)
        bootstrap = self.bring_up(broker)
        redis = self.bring_up(infra.redis())
        self.bring_up(infra.mail(mail))
        shared = {
            infra.BROKER_VARIABLE: bootstrap,
            **broker.environment,
            infra.REDIS_VARIABLE: redis,
            **mail.environment(),
            **self.credentials.environment(),
            **services_environment(),
            "PYTHONUNBUFFERED": "1",
        }
        for row in SERVICES:
            command = [sys.executable, "-m", row.module, "serve"]
            ready = partial(self.answers_readyz, row.url())
            service = self.launch(
                self.services, row.name, row.url(), command, ready, row.environment(shared)
            )
            service.data = row.database_label()
        self.wait_until_ready(ready_timeout)
        self.supervisor = Supervisor(
            self.children, console, lambda: self.stop_signal is not None, show_path=relative
        )

    def bring_up(self, server: infra.Server) -> str:
        """Start `server` if it is ours to start and wait until it listens; returns its URL."""
        if server.note:
            console.print(server.note, soft_wrap=True)
        if not server.argv:
            self.infrastructure.append(Component(server.name, server.url, origin=server.origin))
            return server.url
        ready = server.ready or partial(tcp_open, HOST, server.port)
        component = self.launch(
            self.infrastructure, server.name, server.url, server.argv, ready, None, server.essential
        )
        component.data = server.data
        self.wait_until_listening(component, server.port)
        return server.url

    def launch(
        self,
        group: list[Component],
        name: str,
        url: str,
        argv: Sequence[str],
        ready: Callable[[], bool],
        env: Mapping[str, str] | None = None,
        essential: str | None = None,
    ) -> Component:
        """Start a process, and hand the supervisor how to start it again (same argv, env and
        log) and how to tell it is ready; `essential` says why its loss ends the run instead."""
        log_path = LOG_DIR / f"{name}.log"
        respawn = partial(spawn, argv, log_path, cwd=ROOT, env=env)
        component = Component(name, url, respawn(), log_path)
        group.append(component)
        self.children.append(Child(component, respawn, ready, essential))
        return component

    def answers_readyz(self, url: str) -> bool:
        return probe_readyz(self.http, url)[0]

    # Waiting

    def wait_until_listening(self, component: Component, port: int) -> None:
        deadline = time.monotonic() + LISTEN_TIMEOUT_SECONDS
        while not tcp_open(HOST, port):
            if time.monotonic() > deadline:
                limit = f"{LISTEN_TIMEOUT_SECONDS:.0f} s"
                raise component.failure(f"does not listen on {HOST}:{port} after {limit}")
            self.sleep(0.05)
        self.check()

    def wait_until_ready(self, timeout: float) -> None:
        """Poll every service's /readyz, showing each one's progress, until all answer 200."""
        columns = (SpinnerColumn(), TextColumn("{task.description:<14} {task.fields[detail]}"))
        progress = Progress(*columns, TimeElapsedColumn(), console=console)
        with progress, httpx.Client(timeout=2.0, trust_env=False) as client:
            tasks = {c.name: progress.add_task(c.name, total=1, detail="") for c in self.services}
            waiting = list(self.services)
            deadline = time.monotonic() + timeout
            while waiting:
                for service in list(waiting):
                    ready, detail = probe_readyz(client, service.url)
                    progress.update(tasks[service.name], completed=int(ready), detail=detail)
                    if ready:
                        waiting.remove(service)
                if waiting and time.monotonic() > deadline:
                    names = ", ".join(s.name for s in waiting)
                    logs = [s.log_path for s in waiting if s.log_path]
                    raise SuiteError(f"not ready after {timeout:.0f} s: {names}", logs)
                self.sleep(0.25)

    # Seeding, supervising, stopping

    def seed(self) -> None:
        """The demo catalog and member through the gateway; a refusal is a SuiteError with the
        problem detail, followed by the logs of the services the seed talks to."""
        self.phase = "seeding"
        try:
            self.seeded = seed_demo(
                service_row("gateway").url(), self.credentials, self.member, console, self.sleep
            )
        except SeedError as error:
            logs = [c.log_path for c in self.services if c.name in SEED_LOGS and c.log_path]
            raise SuiteError(f"seeding the demo data failed: {error}", logs) from None
        console.print(seed_summary(self.seeded), soft_wrap=True)

    def supervise(self) -> NoReturn:
        """Tell what runs where, then run until a signal arrives or the broker dies, restarting
        whatever else dies."""
        print_ready(
            [*self.infrastructure, *self.services], self.credentials, self.member, self.seeded
        )
        self.phase = "supervising"
        while True:
            self.sleep(math.inf)

    def stop(self) -> None:
        """Services first (they still flush to the broker and Redis), then the servers."""
        self.phase = "stopping"
        for group in (self.services, self.infrastructure):
            running = {c.name: c.process for c in reversed(group) if c.process}
            for name in stop_processes(running, STOP_GRACE_SECONDS):
                console.print(f"[yellow]{name} ignored SIGTERM for {STOP_GRACE_SECONDS:.0f} s")
        self.http.close()
