"""`python -m payment_service [serve|migrate]`."""

from __future__ import annotations

from chassis.cli import main as run
from payment_service.config import MIGRATIONS_DIR, PaymentSettings
from payment_service.main import create_app


def main() -> None:
    run(create_app, PaymentSettings(), MIGRATIONS_DIR)


if __name__ == "__main__":
    main()
