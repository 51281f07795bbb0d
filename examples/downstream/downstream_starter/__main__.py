"""`downstream-starter run` reads the events and keeps the table; `downstream-starter show`
prints the table. Ctrl-C (or SIGTERM) stops `run` after the record in hand, offsets committed."""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

from downstream_starter.consumer import Settings, consume
from downstream_starter.handlers import money
from downstream_starter.store import Store

DEFAULT_BOOTSTRAP = "127.0.0.1:9092"  # the broker `make run` starts
DEFAULT_GROUP = "downstream-starter"


def say(line: str) -> None:
    print(line, flush=True)


async def run(settings: Settings, database: Path) -> None:
    store = Store(database)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    try:
        await consume(settings, store, stop, say)
    finally:
        store.close()
    say("stopped")


def show(database: Path) -> None:
    store = Store(database)
    try:
        for order in store.orders():
            total = "?"  # lots arrived, the order's own events not yet
            if order.total_minor is not None and order.currency is not None:
                total = money(order.total_minor, order.currency)
            say(f"{order.order_id}  {order.status:<10} {total}")
            for lot in order.lots:
                say(f"    {lot.sku} x{lot.quantity} lot {lot.lot} trace {lot.trace_code or '-'}")
    finally:
        store.close()


def parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="downstream-starter", description=__doc__)
    parser.add_argument("--database", type=Path, default=Path("downstream.db"))
    commands = parser.add_subparsers(dest="command", required=True)
    running = commands.add_parser("run", help="consume order.events and inventory.events")
    running.add_argument(
        "--bootstrap-servers",
        default=os.environ.get("KAFKA_BOOTSTRAP_SERVERS", DEFAULT_BOOTSTRAP),
    )
    running.add_argument("--group", default=DEFAULT_GROUP, help="this team's consumer group")
    running.add_argument(
        "--offset-reset",
        choices=("earliest", "latest"),
        default="earliest",
        help="where a group with no committed offset starts (earliest: replay what is retained)",
    )
    running.add_argument("--session-timeout-ms", type=int, default=10_000)
    commands.add_parser("show", help="print the orders table")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse(sys.argv[1:] if argv is None else argv)
    if args.command == "show":
        show(args.database)
        return
    settings = Settings(
        bootstrap_servers=args.bootstrap_servers,
        group_id=args.group,
        offset_reset=args.offset_reset,
        session_timeout_ms=args.session_timeout_ms,
    )
    asyncio.run(run(settings, args.database))


if __name__ == "__main__":
    main()
