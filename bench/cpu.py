"""CPU seconds per process over a stretch of the run, from /proc, and the whole machine's.

Besides the suite's own processes (by PID, from the launcher), two groups found with psutil:
`postgresql` (every process of the PostgreSQL server: postmaster, background workers and all
backends, whoever they serve) and `redis` (the server on the suite's Redis port). Their
processes come and go (a backend per connection), so a lap counts per PID: the delta of a PID
seen at both ends, all of the CPU of one that started during the lap, and nothing of one that
ended during it (its last CPU is lost: `CpuMeter.notes` says how many, and how many could not
be read at all).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import psutil

TICKS = os.sysconf("SC_CLK_TCK")
MACHINE = "machine (all)"  # every process on the machine, others' included
CLIENT = "bench client"
POSTGRES = "postgresql"
REDIS = "redis"
# Not the suite's work: left out of sums and of "CPU per order".
NOT_SUITE = (CLIENT, MACHINE)


@dataclass
class GroupReading:
    """CPU seconds by PID of one group, at one moment, with each PID's start time."""

    at: float  # time.time()
    cpu: dict[int, float] = field(default_factory=dict)
    started: dict[int, float] = field(default_factory=dict)
    unreadable: int = 0


class ProcessGroup:
    """Processes picked by `match(process)` among all of the machine's, read with psutil."""

    def __init__(self, name: str, match: Callable[[psutil.Process], bool]) -> None:
        self.name, self.match = name, match

    def read(self) -> GroupReading:
        reading = GroupReading(time.time())
        for process in psutil.process_iter():
            try:
                if not self.match(process):
                    continue
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            except psutil.AccessDenied:
                reading.unreadable += 1
                continue
            try:
                with process.oneshot():
                    times = process.cpu_times()
                    reading.started[process.pid] = process.create_time()
                reading.cpu[process.pid] = times.user + times.system
            except (psutil.NoSuchProcess, psutil.ZombieProcess):
                continue
            except psutil.AccessDenied:
                reading.unreadable += 1
        return reading


def postgres_group() -> ProcessGroup:
    """Every process of the local PostgreSQL server(s): they all call themselves postgres."""
    return ProcessGroup(POSTGRES, lambda p: p.name() == "postgres")


def redis_group(port: int) -> ProcessGroup:
    """The redis-server listening on `port` (it retitles itself "redis-server host:port")."""

    def match(process: psutil.Process) -> bool:
        if not process.name().startswith("redis-server"):
            return False
        return any(arg.endswith(f":{port}") for arg in process.cmdline())

    return ProcessGroup(REDIS, match)


def group_delta(before: GroupReading, after: GroupReading) -> tuple[float, list[str]]:
    """CPU seconds the group used between two readings, and what could not be counted."""
    used = 0.0
    for pid, cpu in after.cpu.items():
        if pid in before.cpu and after.started.get(pid) == before.started.get(pid):
            used += cpu - before.cpu[pid]
        elif after.started.get(pid, 0.0) >= before.at - 1.0:  # started during the lap
            used += cpu
    ended = sum(1 for pid in before.cpu if pid not in after.cpu)
    notes = []
    if ended:
        notes.append(f"{ended} process(es) ended during the lap: their last CPU is not counted")
    if after.unreadable:
        notes.append(f"{after.unreadable} process(es) could not be read")
    return used, notes


def process_cpu(pid: int) -> float:
    """utime + stime of `pid` (all its threads), in seconds; 0 once it has gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICKS  # fields 14 and 15 of proc(5)


def machine_cpu() -> float:
    """Busy CPU seconds of the whole machine (every core): all but idle and iowait."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values[:8]) - values[3] - values[4]) / TICKS


def snapshot(pids: dict[str, int]) -> dict[str, float]:
    times = os.times()
    figures = {name: process_cpu(pid) for name, pid in pids.items()}
    return {**figures, CLIENT: times.user + times.system, MACHINE: machine_cpu()}


class CpuMeter:
    """`lap()` gives the CPU seconds each process (and each group) used since the previous
    lap; `notes` what the last lap could not count, by group."""

    def __init__(self, pids: dict[str, int], groups: tuple[ProcessGroup, ...] = ()) -> None:
        self.pids, self.groups = pids, groups
        self._last = snapshot(pids)
        self._groups = {g.name: g.read() for g in groups}
        self._at = time.monotonic()
        self.seconds = 0.0  # wall time of the last lap
        self.notes: dict[str, list[str]] = {}

    def lap(self) -> dict[str, float]:
        now, at = snapshot(self.pids), time.monotonic()
        used = {name: now[name] - self._last.get(name, 0.0) for name in now}
        self.notes = {}
        for group in self.groups:
            reading = group.read()
            used[group.name], notes = group_delta(self._groups[group.name], reading)
            if not reading.cpu:
                notes.append("no process found")
            if notes:
                self.notes[group.name] = notes
            self._groups[group.name] = reading
        self._last, self.seconds, self._at = now, at - self._at, at
        return used


def suite_total(used: dict[str, float]) -> float:
    """Every process of the suite and its infrastructure: not the client, not the machine."""
    return sum(v for k, v in used.items() if k not in NOT_SUITE)


def add(*laps: dict[str, float]) -> dict[str, float]:
    total: dict[str, float] = {}
    for lap in laps:
        for name, value in lap.items():
            total[name] = total.get(name, 0.0) + value
    return total


def hottest_service(used: dict[str, float]) -> str:
    """The service that used most CPU: not the client, the machine total, the broker (py-spy
    samples Python processes only) or the mail catcher."""
    skipped = (*NOT_SUITE, "broker", "mail", POSTGRES, REDIS)
    services = {k: v for k, v in used.items() if k not in skipped}
    return max(services, key=services.__getitem__)
