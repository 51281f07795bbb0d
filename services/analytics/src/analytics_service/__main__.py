"""`python -m analytics_service [serve|migrate]`."""

from __future__ import annotations

from analytics_service.config import MIGRATIONS_DIR, AnalyticsSettings
from analytics_service.main import create_app
from chassis.cli import main as run


def main() -> None:
    run(create_app, AnalyticsSettings(), MIGRATIONS_DIR)


if __name__ == "__main__":
    main()
