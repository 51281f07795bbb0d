"""`make chaos`: the fault suite. Every fault (each service SIGKILLed in turn, order and
inventory SIGSTOPped 10 s, the broker SIGSTOPped past the session timeout, PostgreSQL restarted
and SIGSTOPped 5 s, Redis down 10 s and SIGSTOPped 10 s, 10% of the records duplicated, poison
records) three times under a steady order load
through the gateway, each followed by a drain and the invariants. Prints a table and writes
bench/results/chaos.json and chaos.md; exits 1 when an order was lost or an invariant broke.

    python -m bench.chaos                        # the whole run (~12 minutes)
    python -m bench.chaos --quick                # one run per fault
    python -m bench.chaos --faults postgres,redis --runs 1
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from bench.chaos.faults import all_faults
from bench.chaos.run import Options, chaos
from tools.suite.services import SERVICES

HUNG_BY_DEFAULT = ("hang-order", "hang-inventory")

FAULTS = all_faults([row.name for row in SERVICES])
# Every fault but six of the eight hangs: a hung service is tried on the two the saga cannot
# do without (order takes the orders and decides them, inventory holds the stock); the others
# run with --faults hang-<service>.
DEFAULT_FAULTS = [
    name for name in FAULTS if not name.startswith("hang-") or name in HUNG_BY_DEFAULT
]


def parse_options(argv: Sequence[str] | None = None) -> Options:
    parser = argparse.ArgumentParser(prog="python -m bench.chaos", description=__doc__)
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    add = parser.add_argument
    add("--quick", action="store_true", help="one run per fault")
    add(
        "--faults",
        default=",".join(DEFAULT_FAULTS),
        help=f"comma-separated, of: {', '.join(FAULTS)} (default: all but six hang-<service>)",
    )
    add("--runs", type=int, help="runs per fault (default 3; 1 with --quick)")
    add("--rate", type=float, default=Options.rate, help="orders/s offered throughout")
    add("--keep", action="store_true", help="keep the data folder (logs) even when all held")
    add("--env", action="append", default=[], metavar="KEY=VALUE", help="suite setting")
    args = parser.parse_args(argv)
    chosen = [name.strip() for name in args.faults.split(",") if name.strip()]
    if unknown := [name for name in chosen if name not in FAULTS]:
        parser.error(f"unknown faults {unknown}; known: {', '.join(FAULTS)}")
    runs = args.runs if args.runs is not None else (1 if args.quick else 3)
    env = dict(item.split("=", 1) for item in args.env)
    return Options(faults=chosen, runs=runs, rate=args.rate, keep=args.keep, env=env)


def main() -> None:
    options = parse_options()
    results = asyncio.run(chaos(options, {name: FAULTS[name] for name in options.faults}))
    sys.exit(0 if results and all(not r.breaks and not r.lost for r in results) else 1)


if __name__ == "__main__":
    main()
