"""`python -m gateway_service [serve|migrate]` (`migrate` has nothing to do: no database)."""

from __future__ import annotations

import sys

import uvicorn

from gateway_service.app import create_app
from gateway_service.config import GatewaySettings


def main() -> None:
    if sys.argv[1:2] == ["migrate"]:
        print("gateway: nothing to migrate (no database)")
        return
    settings = GatewaySettings()
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
    )


if __name__ == "__main__":
    main()
