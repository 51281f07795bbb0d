"""The development ports are declared once (`chassis.settings.DEV_PORTS`): every service of the
suite listens on its own there, no two share one, and the gateway's default upstream for each
service, and the default JWKS URL, point where that service listens."""

from __future__ import annotations

from urllib.parse import urlsplit

from chassis.settings import DEV_PORTS, ServiceSettings
from tools.suite.services import SERVICES, default, service_row


def test_every_service_listens_on_its_declared_port_and_no_two_share_one() -> None:
    assert {row.name: row.port for row in SERVICES} == DEV_PORTS
    assert len(set(DEV_PORTS.values())) == len(DEV_PORTS)


def test_the_gateways_defaults_point_where_each_service_listens() -> None:
    gateway = service_row("gateway").settings
    others = [row for row in SERVICES if row.name != "gateway"]
    for row in others:  # the defaults, whatever this machine's environment says
        assert urlsplit(default(gateway, f"{row.name}_url")).port == row.port, row.name
    jwks = urlsplit(default(ServiceSettings, "jwks_url"))
    assert jwks.port == service_row("membership").port
