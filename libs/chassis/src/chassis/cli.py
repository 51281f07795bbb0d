"""`python -m <name>_service [serve|migrate]`: the same two steps in every image, plus the
commands a service adds of its own (analytics' `rebuild`), each given the settings and the rest
of the command line."""

from __future__ import annotations

import argparse
import gc
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from chassis.migrations import upgrade
from chassis.runtime import SettingsT

# The collector's thresholds (Python's own: 700, 10, 10). A burst keeps thousands of requests'
# objects alive at once (2,000 buyers of a flash sale at the gateway), and every young
# collection walks all of them: at 700 the gateway spent 13 % of its CPU in the sale collecting
# (0.22 of 1.67 s, measured with gc.callbacks); at 10,000 it spent 0.005 s. Most objects die by
# reference count long before; cycles wait a little longer to be freed.
GC_THRESHOLDS = (10_000, 20, 20)


def main(
    create_app: Callable[[SettingsT], FastAPI],
    settings: SettingsT,
    migrations_dir: Path | None = None,
    commands: Mapping[str, Callable[[SettingsT, Sequence[str]], None]] | None = None,
) -> None:
    """`migrate` brings the database to its latest migration (a service without a database,
    `settings.owns_database` False, has nothing to do but keeps the step); `serve` runs it.
    `commands` are the service's own, called with the settings and the arguments after the
    command's name (they parse their own options)."""
    extra = dict(commands or {})
    argv = sys.argv[1:]
    # A service's own command parses everything after its name, its `--help` included.
    if argv and argv[0] in extra:
        extra[argv[0]](settings, argv[1:])
        return
    parser = argparse.ArgumentParser(prog=f"{settings.service_name}-service")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate", *extra])
    args = parser.parse_args(argv)
    if args.command == "migrate":
        if not settings.owns_database:
            print(f"{settings.service_name}: nothing to migrate (no database)")
            return
        if migrations_dir is None:
            raise SystemExit(f"{settings.service_name}: no migrations_dir for its database")
        upgrade(migrations_dir, settings.database_url)
        print(f"{settings.service_name}: database is at the latest migration")
        return
    app = create_app(settings)
    if settings.cpu_nice:
        os.nice(settings.cpu_nice)
    # What the imports and the app built (a few hundred thousand objects, all kept for the
    # process's life) is moved out of the collector's reach: a full collection then walks only
    # what was made since, instead of 0.1-0.5 s over the whole heap every so often.
    gc.collect()
    gc.freeze()
    gc.set_threshold(*GC_THRESHOLDS)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        loop="uvloop",
        http="httptools",
        log_config=None,
        access_log=False,
        # chassis.forwarding alone decides whose X-Forwarded-For is believed; uvicorn's own
        # proxy_headers would rewrite the client from it for any loopback peer.
        proxy_headers=False,
        timeout_graceful_shutdown=10,
    )
