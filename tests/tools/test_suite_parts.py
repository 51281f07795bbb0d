"""The launcher's parts that need no suite: the service list read from each service's settings,
how a moved port moves what points at it, and the launcher's own /readyz."""

from __future__ import annotations

import io
from collections.abc import Iterator

import httpx
import pytest
from rich.console import Console

from chassis.testing.infra import free_port
from tools.processes import Process, probe_readyz
from tools.suite import infra
from tools.suite.components import Component
from tools.suite.launcher import Suite
from tools.suite.places import ROOT
from tools.suite.readyz import ReadinessServer
from tools.suite.services import HOST, SERVICES, service_row, services_environment
from tools.supervisor import Child, Supervisor


def test_every_service_of_the_workspace_is_launched_on_its_own_settings() -> None:
    packages = {path.name for path in ROOT.glob("services/*/src/*_service")}
    assert {row.module for row in SERVICES} == packages
    for row in SERVICES:
        settings = row.settings()
        assert (row.name, row.port) == (settings.service_name, settings.port)
        assert row.env_prefix == f"{row.name.upper()}_"
        assert row.owns_database is settings.owns_database
    assert len({row.port for row in SERVICES}) == len(SERVICES)
    assert SERVICES[0].name == "membership" and SERVICES[-1].name == "gateway"


def test_the_embedded_broker_gets_two_partitions_and_short_sessions_unless_told_otherwise(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("KAFKA_BOOTSTRAP_SERVERS", "KAFKA_TOPIC_PARTITIONS", "KAFKA_SESSION_TIMEOUT_MS"):
        monkeypatch.delenv(name, raising=False)
    port = free_port()
    assert infra.broker(port).environment == {
        "KAFKA_TOPIC_PARTITIONS": "2",
        "KAFKA_SESSION_TIMEOUT_MS": "3000",
    }
    monkeypatch.setenv("KAFKA_TOPIC_PARTITIONS", "6")
    monkeypatch.setenv("KAFKA_SESSION_TIMEOUT_MS", "1500")
    assert infra.broker(port).environment == {
        "KAFKA_TOPIC_PARTITIONS": "6",
        "KAFKA_SESSION_TIMEOUT_MS": "1500",
    }
    # A broker of the environment's (Kafka) keeps the declared counts: nothing is said.
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", f"{HOST}:{port}")
    assert infra.broker(port).environment == {}


def test_a_moved_port_moves_the_gateway_route_and_the_jwks(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for variable in ("JWKS_URL", "GATEWAY_CATALOG_URL", "GATEWAY_FLASH_SALE_LIMITS"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("CATALOG_PORT", "18001")
    monkeypatch.setenv("MEMBERSHIP_PORT", "18005")

    env = services_environment()

    assert env["GATEWAY_CATALOG_URL"] == f"http://{HOST}:18001"
    assert env["JWKS_URL"] == f"http://{HOST}:18005/.well-known/jwks.json"
    assert env["GATEWAY_ORDER_URL"] == service_row("order").url()
    assert "GATEWAY_GATEWAY_URL" not in env


@pytest.fixture
def suite() -> Iterator[Suite]:
    made = Suite()
    yield made
    made.http.close()


def test_the_launcher_is_ready_only_once_it_supervises_every_child(suite: Suite) -> None:
    catalog = Child(Component("catalog", "http://catalog"), respawn=never, ready=lambda: True)
    port = free_port()
    server = ReadinessServer(HOST, port, suite.readiness)
    server.start()
    try:
        with httpx.Client(timeout=2, trust_env=False) as client:
            url = f"http://{HOST}:{port}"
            assert probe_readyz(client, url) == (False, "HTTP 503 launcher: starting")
            suite.supervisor = Supervisor([catalog], Console(file=io.StringIO()), lambda: False)
            suite.phase = "seeding"
            assert probe_readyz(client, url) == (False, "HTTP 503 launcher: seeding")
            suite.phase = "supervising"
            assert probe_readyz(client, url) == (True, "ready")
            catalog.awaiting_ready = True  # restarted after a crash, not ready yet
            assert probe_readyz(client, url) == (False, "HTTP 503 catalog: restarting")
            assert client.get(f"{url}/elsewhere").status_code == 404
    finally:
        server.close()


def never() -> Process:
    raise AssertionError("nothing is restarted here")
