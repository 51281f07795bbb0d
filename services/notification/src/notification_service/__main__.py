"""`python -m notification_service [serve|migrate]`."""

from __future__ import annotations

from chassis.cli import main as run
from notification_service.config import MIGRATIONS_DIR, NotificationSettings
from notification_service.main import create_app


def main() -> None:
    run(create_app, NotificationSettings(), MIGRATIONS_DIR)


if __name__ == "__main__":
    main()
