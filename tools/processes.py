"""Child processes and network probes for the launcher in `tools.suite`.

Every child runs in its own session, so that its process group can be signalled as a whole, and
stays unreaped until it is stopped, so that its process-group id cannot meanwhile be reused by a
process we did not start.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import time
from collections import deque
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path

import httpx

Process = subprocess.Popen[bytes]
RUN_MARKER = "=== "  # starts the line `spawn` writes to a log before each run


def spawn(
    argv: Sequence[str], log_path: Path, *, cwd: Path, env: Mapping[str, str] | None = None
) -> Process:
    """Start `argv` in a new session with stdout and stderr appended to `log_path`."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    with log_path.open("ab") as log:
        started = datetime.now().isoformat(timespec="seconds")
        log.write(f"\n{RUN_MARKER}{started} {' '.join(argv)}\n".encode())
        log.flush()
        return subprocess.Popen(  # noqa: S603 - the launcher builds argv itself
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )


def exit_status(process: Process) -> int | None:
    """The exit status once the process has ended, else None; unlike `Popen.poll` it does not
    reap the process."""
    if process.returncode is not None:
        return process.returncode
    result = os.waitid(os.P_PID, process.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
    return None if result is None else result.si_status


def signal_group(process: Process, sig: signal.Signals) -> None:
    if process.returncode is None:  # not reaped yet, so the group id is still ours
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)


def reap(process: Process) -> int:
    """Reap an ended process, after a SIGKILL to whatever its group left behind (it may hold
    the port its successor needs). Returns its return code, negative for a signal."""
    signal_group(process, signal.SIGKILL)
    return process.wait()


def stop_processes(processes: Mapping[str, Process], grace: float) -> list[str]:
    """SIGTERM each process group, wait up to `grace` seconds for the leaders to exit, then
    SIGKILL each group (the stubborn leaders and anything they left behind) and reap the leaders.
    Returns the names of those that had to be killed."""
    for process in processes.values():
        signal_group(process, signal.SIGTERM)
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and any(exit_status(p) is None for p in processes.values()):
        time.sleep(0.1)
    killed = [name for name, process in processes.items() if exit_status(process) is None]
    for process in processes.values():
        signal_group(process, signal.SIGKILL)
        process.wait()
    return killed


def tail(path: Path, lines: int) -> list[str]:
    """The last lines of the latest run in a log, JSON records made readable (a traceback on
    its own lines)."""
    if not path.exists():
        return []
    with path.open(encoding="utf-8", errors="replace") as log:
        last = [line.rstrip("\n") for line in deque(log, maxlen=lines)]
    starts = [i for i, line in enumerate(last) if line.startswith(RUN_MARKER)]
    return [readable(line) for line in last[starts[-1] if starts else 0 :]]


def readable(line: str) -> str:
    try:
        record = json.loads(line)
    except ValueError:
        return line
    if not isinstance(record, dict) or "event" not in record:
        return line
    head = [str(record.pop(key, "")) for key in ("timestamp", "level", "event")]
    record.pop("service", None)
    extra = " ".join(f"{key}={value}" for key, value in record.items())
    return " ".join(part for part in [*head, extra] if part)


def port_taken(host: str, port: int) -> bool:
    """True if something listens on host:port (SO_REUSEADDR: TIME_WAIT leftovers do not count)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return True
    return False


def tcp_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def answers_redis_ping(host: str, port: int) -> bool:
    """A Redis server answers PING with +PONG (or -NOAUTH when it wants a password)."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith((b"+PONG", b"-NOAUTH"))
    except OSError:
        return False


def answers_smtp(host: str, port: int) -> bool:
    """An SMTP server greets a new connection with a 220 reply (RFC 5321, section 4.2)."""
    try:
        with socket.create_connection((host, port), timeout=1.0) as sock:
            return sock.recv(64).startswith(b"220")
    except OSError:
        return False


def probe_readyz(client: httpx.Client, base_url: str) -> tuple[bool, str]:
    """(ready, detail): detail names the failing checks or the connection error."""
    try:
        response = client.get(f"{base_url}/readyz")
    except httpx.HTTPError as exc:
        return False, type(exc).__name__
    if response.status_code == 200:
        return True, "ready"
    try:
        checks = response.json().get("checks") or {}
    except (ValueError, AttributeError):
        checks = {}
    failing = ", ".join(f"{name}: {state}" for name, state in checks.items() if state != "ok")
    return False, f"HTTP {response.status_code} {failing}".rstrip()
