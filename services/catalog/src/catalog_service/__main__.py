"""`python -m catalog_service [serve|migrate]`."""

from __future__ import annotations

from catalog_service.config import MIGRATIONS_DIR, CatalogSettings
from catalog_service.main import create_app
from chassis.cli import main as run


def main() -> None:
    run(create_app, CatalogSettings(), MIGRATIONS_DIR)


if __name__ == "__main__":
    main()
