"""Private PostgreSQL and Redis servers for one chaos run.

The machine's shared servers (127.0.0.1:5432 and :6379) serve other engineers' tests, so they
are never restarted: the faults restart servers started here, on free ports, under the run's
data folder, and stop them when the run ends.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from chassis.testing.infra import free_port, port_open, redis_server_binary, wait_for_port

HOST = "127.0.0.1"
POSTGRES_USER = "postgres"  # initdb refuses to run as root


def postgres_bin_dir() -> Path:
    """The newest `/usr/lib/postgresql/<major>/bin` holding initdb."""
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"), key=lambda p: int(p.parts[-3]))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
    return found[-1].parent


class PrivatePostgres:
    """A throwaway cluster: initdb into `directory`, trust auth, its own port and socket folder.

    As root, every command runs as the `postgres` user (initdb and postgres refuse root), and
    the folder is handed to that user."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.data = directory / "data"
        self.port = free_port()
        self.bin = postgres_bin_dir()
        self.as_root = os.geteuid() == 0

    @property
    def admin_url(self) -> str:
        return f"postgresql://{POSTGRES_USER}@{HOST}:{self.port}/postgres"

    def _run(self, tool: str, *args: str) -> None:
        argv = [str(self.bin / tool), *args]
        if self.as_root:
            argv = ["runuser", "-u", POSTGRES_USER, "--", *argv]
        subprocess.run(argv, check=True, capture_output=True, cwd=self.directory)  # noqa: S603

    def init(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        if self.as_root:
            user = pwd.getpwnam(POSTGRES_USER)
            os.chown(self.directory, user.pw_uid, user.pw_gid)
            # The postgres user must reach the folder through its parents (mkdtemp makes 0700).
            for parent in self.directory.parents:
                if parent == Path("/") or parent.stat().st_uid != 0:
                    break
                parent.chmod(parent.stat().st_mode | 0o011)
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", POSTGRES_USER, "-E", "UTF8")
        settings = {
            "listen_addresses": f"'{HOST}'",
            "port": str(self.port),
            "unix_socket_directories": f"'{self.directory}'",
            "max_connections": "300",  # seven services with pools, and the checks
            # Durability against a server crash comes from the WAL in the OS cache: a restart
            # of the server (not of the machine) loses nothing without fsync, and saves I/O.
            "fsync": "off",
            "full_page_writes": "off",
        }
        with (self.data / "postgresql.conf").open("a") as conf:
            conf.writelines(f"{key} = {value}\n" for key, value in settings.items())

    def start(self) -> None:
        log = str(self.directory / "postgres.log")
        self._run("pg_ctl", "start", "-D", str(self.data), "-l", log, "-w", "-t", "60")
        wait_for_port(HOST, self.port)

    def stop(self, mode: str = "fast") -> None:
        """`fast` disconnects every client and shuts down cleanly; `immediate` is a crash."""
        self._run("pg_ctl", "stop", "-D", str(self.data), "-m", mode, "-w", "-t", "60")

    def running(self) -> bool:
        return port_open(HOST, self.port)

    def postmaster(self) -> int | None:
        """The postmaster's pid, or None when it is not running."""
        pid_file = self.data / "postmaster.pid"
        return int(pid_file.read_text().split()[0]) if pid_file.exists() else None

    @staticmethod
    def children(postmaster: int) -> list[int]:
        """The postmaster's children: backends, checkpointer, WAL writer, ..."""
        children = Path(f"/proc/{postmaster}/task/{postmaster}/children")
        return [int(pid) for pid in children.read_text().split()]


@contextlib.contextmanager
def private_postgres(directory: Path) -> Iterator[PrivatePostgres]:
    server = PrivatePostgres(directory)
    server.init()
    server.start()
    try:
        yield server
    finally:
        if server.running():
            server.stop("immediate")
        shutil.rmtree(server.data, ignore_errors=True)


class PrivateRedis:
    """A redis-server on a port of its own that keeps nothing on disk; stop() and start()
    again bring it back on the same port, empty (as a restarted cache would be)."""

    def __init__(self, log_path: Path) -> None:
        self.port = free_port()
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def argv(self) -> Sequence[str]:
        return [redis_server_binary(), "--port", str(self.port), "--bind", HOST]

    def start(self) -> None:
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(  # noqa: S603
                [*self.argv(), "--save", "", "--appendonly", "no"],
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_for_port(HOST, self.port)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)
        while port_open(HOST, self.port):  # the port is free before it is taken again
            time.sleep(0.05)


@contextlib.contextmanager
def private_redis(directory: Path) -> Iterator[PrivateRedis]:
    server = PrivateRedis(directory / "redis.log")
    server.start()
    try:
        yield server
    finally:
        server.stop()
