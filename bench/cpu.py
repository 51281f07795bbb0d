"""CPU seconds per process over a stretch of the run, from /proc, and the whole machine's."""

from __future__ import annotations

import os
import time
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")
MACHINE = "machine (all)"  # every process on the machine, others' included
CLIENT = "bench client"


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
    """`lap()` gives the CPU seconds each process used since the previous lap."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = pids
        self._last = snapshot(pids)
        self._at = time.monotonic()
        self.seconds = 0.0  # wall time of the last lap

    def lap(self) -> dict[str, float]:
        now, at = snapshot(self.pids), time.monotonic()
        used = {name: now[name] - self._last.get(name, 0.0) for name in now}
        self._last, self.seconds, self._at = now, at - self._at, at
        return used


def hottest_service(used: dict[str, float]) -> str:
    """The service that used most CPU: not the client, the machine total, the broker (py-spy
    samples Python processes only) or the mail catcher."""
    services = {k: v for k, v in used.items() if k not in (CLIENT, MACHINE, "broker", "mail")}
    return max(services, key=services.__getitem__)
