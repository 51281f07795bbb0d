"""The whole suite started exactly as `make run` starts it, from another program: the end-to-end
tests and the order benchmark use it.

`launched_suite()` runs `python -m tools.suite run` as a child process with every port free and
chosen here, a data folder of its own, and the databases, Redis and broker it is given (PostgreSQL
in tests and benchmarks, so that `make run`'s SQLite default stays the newcomer's), waits until
every service's `/readyz` and the launcher's own answer 200 (the launcher's says it has seen them
all ready and supervises them; nothing printed is read), and stops it with SIGINT (Ctrl-C)
afterwards, which stops every process it started.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from chassis.testing.infra import free_port
from tools.processes import exit_status, probe_readyz, spawn, tail
from tools.suite.credentials import AdminCredentials
from tools.suite.infra import BROKER_VARIABLE, REDIS_VARIABLE, SMTP_PORT_VARIABLE
from tools.suite.places import ROOT
from tools.suite.services import HOST, SERVICES

STOP_SECONDS = 30.0
POLL_SECONDS = 0.2
LAUNCHER = "launcher"  # the launcher's own /readyz, beside the services' in `readiness()`


@dataclass
class LaunchedSuite:
    """A running suite: its URLs by service name, its admin and where its logs are."""

    urls: dict[str, str]
    data_dir: Path
    launcher_url: str = ""  # where the launcher serves its own /readyz
    admin_email: str = AdminCredentials.development_email
    admin_password: str = AdminCredentials.development_password
    process: subprocess.Popen[bytes] | None = field(default=None, repr=False)
    kafka_bootstrap: str = ""  # the broker the suite uses: the embedded one unless given

    @property
    def gateway(self) -> str:
        return self.urls["gateway"]

    def log(self, service: str) -> Path:
        return self.data_dir / "logs" / f"{service}.log"

    @property
    def launcher_log(self) -> Path:
        """What the launcher prints: readiness, and each crash and restart it supervises."""
        return self.data_dir / "launcher.log"

    def pids(self) -> dict[str, int]:
        """The PID of each live process the launcher started, by name: every service (`python
        -m <module> serve`), the embedded broker (`broker`), the mail catcher (`mail`) and
        Redis (`redis`), for profiling and CPU accounting. Read afresh on each call, so a
        restarted service shows its new PID (a dead one, unreaped, has no argv and is skipped)."""
        if self.process is None:
            return {}
        names = {row.module: row.name for row in SERVICES}
        found = {}
        for pid, argv in child_processes(self.process.pid):
            if len(argv) >= 3 and argv[1] == "-m" and argv[2] in names:
                found[names[argv[2]]] = pid
            elif "broker" in argv[1:2]:
                found["broker"] = pid
            elif "aiosmtpd" in argv[2:3]:
                found["mail"] = pid
            elif argv and "redis-server" in argv[0]:  # it retitles itself "redis-server host:port"
                found["redis"] = pid
        return found


def child_processes(parent: int) -> Iterator[tuple[int, list[str]]]:
    """(pid, argv) of each live child of `parent`, read from /proc."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue  # ended meanwhile
        # The command name in parentheses may hold spaces: the fields after it are plain.
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            yield int(entry.name), [a.decode(errors="replace") for a in argv if a]


def suite_environment(
    data_dir: Path,
    databases: Mapping[str, str],
    redis_url: str,
    kafka_bootstrap_servers: str | None,
    extra: Mapping[str, str],
) -> tuple[dict[str, str], dict[str, str]]:
    """(environment, urls): a free port per service, `databases[name]` as its DATABASE_URL."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PYTEST_")}
    admin = AdminCredentials.development()
    env.update(
        {
            "SUITE_DATA_DIR": str(data_dir),
            REDIS_VARIABLE: redis_url,
            **admin.environment(),
            SMTP_PORT_VARIABLE: str(free_port()),
            # Tests and benchmarks bring their own products; `extra` may turn the demo seed on.
            "SUITE_SEED_DEMO": "0",
        }
    )
    env.pop(BROKER_VARIABLE, None)
    if kafka_bootstrap_servers:
        env[BROKER_VARIABLE] = kafka_bootstrap_servers
    urls = {}
    run_id = data_dir.name
    for row in SERVICES:
        port = free_port()
        env[row.variable("port")] = str(port)
        # Redis keys of one launched suite never meet another's (rate limits, caches).
        env[row.variable("redis_key_prefix")] = f"{run_id}:{row.name}:"
        if row.name in databases:
            env[row.database_variable()] = databases[row.name]
        urls[row.name] = f"http://{HOST}:{port}"
    env.update(extra)
    return env, urls


@contextlib.contextmanager
def launched_suite(
    data_dir: Path,
    *,
    databases: Mapping[str, str],
    redis_url: str,
    kafka_bootstrap_servers: str | None = None,
    extra_env: Mapping[str, str] | None = None,
    ready_timeout: float = 120.0,
) -> Iterator[LaunchedSuite]:
    """Start the suite, yield it once ready, stop it. Without `kafka_bootstrap_servers` the
    launcher starts its own embedded broker on a free port. `extra_env` overrides settings
    (`GATEWAY_RATE_PER_MEMBER_PER_MINUTE`, ...)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    env, urls = suite_environment(
        data_dir, databases, redis_url, kafka_bootstrap_servers, extra_env or {}
    )
    broker_port, readyz_port = free_port(), free_port()
    argv = [sys.executable, "-m", "tools.suite", "run", "--timeout", str(ready_timeout)]
    argv += ["--broker-port", str(broker_port), "--readyz-port", str(readyz_port)]
    bootstrap = kafka_bootstrap_servers or f"{HOST}:{broker_port}"
    launcher_url = f"http://{HOST}:{readyz_port}"
    suite = LaunchedSuite(urls, data_dir, launcher_url, kafka_bootstrap=bootstrap)
    process = suite.process = spawn(argv, suite.launcher_log, cwd=ROOT, env=env)
    try:
        wait_until_ready(suite, process, ready_timeout + 30)
        yield suite
    finally:
        stop(process)


def readiness(suite: LaunchedSuite, client: httpx.Client) -> dict[str, str]:
    """Each process's `/readyz` by name ("ready", or why not): every service's, and the
    launcher's own."""
    urls = {**suite.urls, LAUNCHER: suite.launcher_url}
    return {name: probe_readyz(client, url)[1] for name, url in urls.items()}


def wait_until_ready(
    suite: LaunchedSuite, launcher: subprocess.Popen[bytes], timeout: float
) -> None:
    """Until every `/readyz` answers 200 in one round; an error with the launcher's output if
    the launcher exits first or the time runs out."""
    deadline = time.monotonic() + timeout
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        while True:
            states = readiness(suite, client)
            waiting = {name: state for name, state in states.items() if state != "ready"}
            if not waiting:
                return
            status = exit_status(launcher)
            if status is not None or time.monotonic() > deadline:
                what = (
                    f"exited with {status}" if status is not None else f"not ready in {timeout} s"
                )
                detail = ", ".join(f"{name}: {state}" for name, state in waiting.items())
                output = "\n".join(tail(suite.launcher_log, 60))
                raise RuntimeError(f"the suite {what} ({detail}):\n{output}")
            time.sleep(POLL_SECONDS)


def stop(process: subprocess.Popen[bytes]) -> None:
    """Ctrl-C, as a person would; the launcher stops its children. SIGKILL if it hangs."""
    if exit_status(process) is None:
        os.killpg(process.pid, signal.SIGINT)
    try:
        process.wait(STOP_SECONDS)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
