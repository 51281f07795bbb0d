"""`python -m inventory_service [serve|migrate]`."""

from __future__ import annotations

from chassis.cli import main as run
from inventory_service.config import MIGRATIONS_DIR, InventorySettings
from inventory_service.main import create_app


def main() -> None:
    run(create_app, InventorySettings(), MIGRATIONS_DIR)


if __name__ == "__main__":
    main()
