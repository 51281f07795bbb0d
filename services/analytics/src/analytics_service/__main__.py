"""`python -m analytics_service [serve|migrate|rebuild]`: the chassis' two steps, and the
rebuild of the projection from the beginning of the topics (docs/kpis.md, "Rebuilding")."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence

from analytics_service.config import MIGRATIONS_DIR, AnalyticsSettings
from analytics_service.main import create_app
from analytics_service.service import rebuild
from chassis.cli import main as run


def rebuild_command(settings: AnalyticsSettings, argv: Sequence[str]) -> None:
    parser = argparse.ArgumentParser(
        prog="analytics-service rebuild",
        description="Empty the projection (and the analytics inbox) and replay every topic "
        "analytics reads from offset 0 under a fresh consumer group, until caught up.",
    )
    parser.add_argument(
        "--database-url",
        help="rebuild into this database instead of ANALYTICS_DATABASE_URL (a new, empty one "
        "will do: it is migrated first); point the service at it afterwards",
    )
    parser.add_argument("--group", help="the consumer group to read as (default: a new one)")
    args = parser.parse_args(argv)
    if args.database_url:
        settings = settings.model_copy(update={"database_url": args.database_url})
    asyncio.run(rebuild.rebuild(settings, group=args.group))


def main() -> None:
    run(create_app, AnalyticsSettings(), MIGRATIONS_DIR, commands={"rebuild": rebuild_command})


if __name__ == "__main__":
    main()
