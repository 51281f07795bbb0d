"""`python -m order_service [serve|migrate]`."""

from __future__ import annotations

from chassis.cli import main as run
from order_service.config import MIGRATIONS_DIR, OrderSettings
from order_service.main import create_app


def main() -> None:
    run(create_app, OrderSettings(), MIGRATIONS_DIR)


if __name__ == "__main__":
    main()
