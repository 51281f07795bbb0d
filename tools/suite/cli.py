"""`python -m tools.suite run|status`: the command line, and the `status` probe."""

from __future__ import annotations

import argparse
import os
import signal
import time
from collections.abc import Sequence
from urllib.parse import urlsplit

import httpx

import tools.suite
from tools.processes import answers_redis_ping, answers_smtp, probe_readyz, tcp_open
from tools.suite import infra
from tools.suite.console import console, print_failure, status_table
from tools.suite.errors import StopRequested, SuiteError
from tools.suite.launcher import Suite
from tools.suite.readyz import ReadinessServer
from tools.suite.services import HOST, SERVICES

READY_TIMEOUT_SECONDS = 120.0


def run(
    broker_port: int,
    smtp_port: int | None,
    ready_timeout: float,
    seed: bool,
    readyz_port: int | None = None,
) -> int:
    suite = Suite()
    signal.signal(signal.SIGINT, suite.request_stop)
    signal.signal(signal.SIGTERM, suite.request_stop)
    readyz: ReadinessServer | None = None
    try:
        if readyz_port is not None:
            readyz = serve_readyz(suite, readyz_port)
        started = time.perf_counter()
        suite.start(broker_port, smtp_port, ready_timeout)
        console.print(f"every service ready after {time.perf_counter() - started:.1f} s")
        if seed:
            suite.seed()
        suite.supervise()
    except StopRequested as stop:
        console.print(f"{stop}: stopping the suite")
        return 0
    except SuiteError as error:
        print_failure(error)
        return 1
    finally:
        suite.stop()
        if readyz:
            readyz.close()


def serve_readyz(suite: Suite, port: int) -> ReadinessServer:
    try:
        server = ReadinessServer(HOST, port, suite.readiness)
    except OSError as error:
        raise SuiteError(
            f"the launcher's /readyz cannot listen on {HOST}:{port}: {error}"
        ) from None
    server.start()
    return server


def status(smtp_port: int | None) -> int:
    """Probe the broker, Redis, the mail server and each service's /readyz; exit 1 unless all
    answer."""
    bootstrap = os.environ.get(infra.BROKER_VARIABLE, f"{HOST}:{infra.DEFAULT_BROKER_PORT}")
    redis_url = os.environ.get(infra.REDIS_VARIABLE, infra.DEFAULT_REDIS_URL)
    broker, redis = urlsplit(f"//{bootstrap.split(',')[0]}"), urlsplit(redis_url)
    mail = infra.MailServer.resolve(smtp_port)
    broker_up = tcp_open(broker.hostname or HOST, broker.port or infra.DEFAULT_BROKER_PORT)
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


def seed_wanted(no_seed_flag: bool) -> bool:
    """False with `--no-seed` or SUITE_SEED_DEMO=0/false/no/off."""
    setting = os.environ.get("SUITE_SEED_DEMO", "1").strip().lower()
    return not no_seed_flag and setting not in {"0", "false", "no", "off"}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m tools.suite", description=tools.suite.__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    commands = parser.add_subparsers(dest="command", required=True)
    run_parser = commands.add_parser("run", help="start the suite; Ctrl-C stops it")
    run_parser.add_argument(
        "--broker-port",
        type=int,
        default=infra.DEFAULT_BROKER_PORT,
        help=f"port of the embedded broker (unused when {infra.BROKER_VARIABLE} is set)",
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
    run_parser.add_argument(
        "--readyz-port",
        type=int,
        default=None,
        help="serve the launcher's own /readyz on this port: 200 once every service is ready "
        "and supervised (for programs that start the suite, such as tools.launched)",
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
        help=f"mail catcher port (default: {infra.SMTP_PORT_VARIABLE}, "
        f"else {infra.DEFAULT_SMTP_PORT})",
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.command == "status":
        try:
            return status(args.smtp_port)
        except SuiteError as error:
            print_failure(error)
            return 1
    seed = seed_wanted(args.no_seed)
    return run(args.broker_port, args.smtp_port, args.timeout, seed, args.readyz_port)
