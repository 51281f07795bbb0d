"""`python -m gateway_service [serve|migrate]` (`migrate` has nothing to do: no database)."""

from __future__ import annotations

from chassis.cli import main as run
from gateway_service.config import GatewaySettings
from gateway_service.main import create_app


def main() -> None:
    run(create_app, GatewaySettings())


if __name__ == "__main__":
    main()
