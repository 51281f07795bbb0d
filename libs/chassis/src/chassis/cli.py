"""`python -m <name>_service [serve|migrate]`: the same two steps in every image."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

import uvicorn
from fastapi import FastAPI

from chassis.migrations import upgrade
from chassis.settings import ServiceSettings


def main(
    create_app: Callable[[ServiceSettings], FastAPI],
    settings: ServiceSettings,
    migrations_dir: Path,
) -> None:
    parser = argparse.ArgumentParser(prog=f"{settings.service_name}-service")
    parser.add_argument("command", nargs="?", default="serve", choices=["serve", "migrate"])
    args = parser.parse_args()
    if args.command == "migrate":
        upgrade(migrations_dir, settings.database_url)
        print(f"{settings.service_name}: database is at the latest migration")
        return
    uvicorn.run(
        create_app(settings),
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
