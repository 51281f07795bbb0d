"""Keeps `make run` (`tools.suite`) going when one of its processes dies.

Why: with seven services, one crash (a bug, the OOM killer, a stray `kill`) should not cost the
whole suite a restart, nor leave it half-running unnoticed. A child that dies is started again
with its own command line, environment and log, after an exponential backoff so that a crash
loop does not spin, while every other process keeps running. A child marked essential cannot be
brought back as it was (the embedded broker holds every event in memory), so its loss ends the
run instead. The backoff bookkeeping (`Backoff`, `CrashStreak`) is pure; `Supervisor` does the
process work, one short tick at a time, so that a stop request is never kept waiting.
"""

from __future__ import annotations

import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.markup import escape

from tools.processes import Process, exit_status, reap

TICK_SECONDS = 0.25
TAIL_HINT_LINES = 30


@dataclass(frozen=True)
class Backoff:
    """The wait before restarting a crashed child: `initial` seconds, times `factor` for each
    further crash in a row, at most `cap`; a child that stayed ready for `reset_after` seconds
    before it crashed starts again from `initial`."""

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 15.0
    reset_after: float = 30.0

    def delay(self, crashes_in_a_row: int) -> float:
        return min(self.cap, self.initial * self.factor ** max(crashes_in_a_row - 1, 0))


@dataclass
class CrashStreak:
    """One child's crashes in a row. No clock of its own: the caller says when."""

    backoff: Backoff = field(default_factory=Backoff)
    crashes: int = 0
    ready_since: float | None = None  # None: not ready since its last (re)start

    def ready(self, now: float) -> None:
        self.ready_since = now

    def crashed(self, now: float) -> float:
        """Count a crash at `now`; returns the seconds to wait before the restart."""
        if self.ready_since is not None and now - self.ready_since >= self.backoff.reset_after:
            self.crashes = 0
        self.ready_since = None
        self.crashes += 1
        return self.backoff.delay(self.crashes)


def describe_exit(returncode: int) -> str:
    """`killed by SIGKILL` or `exited with status 3`, from a `Popen.returncode`."""
    if returncode < 0:
        try:
            return f"killed by {signal.Signals(-returncode).name}"
        except ValueError:
            return f"killed by signal {-returncode}"
    return f"exited with status {returncode}"


class Running(Protocol):
    """What the supervisor reads and replaces in a launched component
    (`tools.suite.launcher.Component`): replacing `process` there keeps the launcher's stop and
    status on the live process."""

    name: str
    process: Process | None
    log_path: Path | None


class EssentialLost(Exception):
    """An essential child died: the run cannot go on. `logs` explain it."""

    def __init__(self, message: str, logs: Sequence[Path]) -> None:
        super().__init__(message)
        self.logs = tuple(logs)


@dataclass
class Child:
    """A process the launcher started, how to start it again and how to tell it is ready."""

    component: Running
    respawn: Callable[[], Process]
    ready: Callable[[], bool]
    essential: str | None = None  # why its loss ends the run; None: it is restarted
    started_at: float = field(default_factory=time.monotonic)
    streak: CrashStreak = field(default_factory=CrashStreak)
    restart_at: float | None = None  # set while a restart waits out its backoff
    awaiting_ready: bool = False  # restarted, not ready yet

    @property
    def name(self) -> str:
        return self.component.name


class Supervisor:
    """Watches `children` (all of them ready when it is made) while `run` is called."""

    def __init__(
        self,
        children: Sequence[Child],
        console: Console,
        stopping: Callable[[], bool],
        *,
        show_path: Callable[[Path], str] = str,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.children = list(children)
        self.console = console
        self.stopping = stopping
        self.show_path = show_path
        self.clock = clock
        now = clock()
        for child in self.children:
            child.streak.ready(now)

    def run(self, seconds: float) -> None:
        """Supervise for `seconds` (`math.inf`: for good), returning early once `stopping()`.
        Raises `EssentialLost` when an essential child dies."""
        deadline = self.clock() + seconds
        while not self.stopping():
            self.tick()
            left = deadline - self.clock()
            if left <= 0:
                return
            time.sleep(min(TICK_SECONDS, left))

    def tick(self) -> None:
        for child in self.children:
            if self.stopping():
                return  # nothing is restarted once the launcher is shutting down
            process = child.component.process
            if child.restart_at is not None:
                if self.clock() >= child.restart_at:
                    self.restart(child)
            elif process is not None and exit_status(process) is not None:
                self.died(child, process)
            elif child.awaiting_ready and child.ready():
                self.ready_again(child)

    def died(self, child: Child, process: Process) -> None:
        returncode = reap(process)
        now = self.clock()
        what = (
            f"{child.name} (PID {process.pid}) {describe_exit(returncode)} "
            f"after {now - child.started_at:.1f} s"
        )
        logs = [child.component.log_path] if child.component.log_path else []
        if child.essential:
            raise EssentialLost(f"{what}: {child.essential}", logs)
        delay = child.streak.crashed(now)
        child.restart_at, child.awaiting_ready = now + delay, False
        hint = "".join(f"; see tail -n {TAIL_HINT_LINES} {self.show_path(log)}" for log in logs)
        self.console.print(
            f"[bold red]died:[/] {escape(what)}; restart in {delay:.1f} s{escape(hint)}",
            soft_wrap=True,
        )

    def restart(self, child: Child) -> None:
        child.restart_at = None
        try:
            process = child.respawn()
        except OSError as error:  # e.g. its binary is gone: count it as one more crash
            delay = child.streak.crashed(self.clock())
            child.restart_at = self.clock() + delay
            self.console.print(
                f"[bold red]restart failed:[/] {escape(child.name)}: {escape(str(error))}; "
                f"next try in {delay:.1f} s",
                soft_wrap=True,
            )
            return
        child.component.process = process
        child.started_at, child.awaiting_ready = self.clock(), True
        self.console.print(
            f"[yellow]restarted:[/] {escape(child.name)} (PID {process.pid}, "
            f"crash {child.streak.crashes} in a row); waiting until it is ready",
            soft_wrap=True,
        )

    def ready_again(self, child: Child) -> None:
        now = self.clock()
        child.awaiting_ready = False
        child.streak.ready(now)
        pid = child.component.process.pid if child.component.process else "?"
        self.console.print(
            f"[green]ready again:[/] {escape(child.name)} (PID {pid}) "
            f"{now - child.started_at:.1f} s after its restart",
            soft_wrap=True,
        )
