"""`python -m membership_service [serve|migrate]`."""

from __future__ import annotations

from chassis.cli import main as run
from membership_service.config import MIGRATIONS_DIR, MembershipSettings
from membership_service.main import create_app


def main() -> None:
    run(create_app, MembershipSettings(), MIGRATIONS_DIR)


if __name__ == "__main__":
    main()
