"""`python -m <name>_service [serve|migrate]` through chassis.cli, for a service with and
without a database."""

from __future__ import annotations

import gc
from pathlib import Path
from typing import Any, ClassVar

import pytest
from fastapi import FastAPI

from chassis import cli
from chassis.settings import ServiceSettings


class EdgeSettings(ServiceSettings):
    owns_database: ClassVar[bool] = False
    service_name: str = "edge"


def test_migrate_without_a_database_has_nothing_to_do(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr("sys.argv", ["edge-service", "migrate"])
    monkeypatch.setattr(cli, "upgrade", lambda *a: pytest.fail("no database to migrate"))
    cli.main(lambda s: pytest.fail("migrate serves nothing"), EdgeSettings())
    assert capsys.readouterr().out == "edge: nothing to migrate (no database)\n"


def test_migrate_with_a_database_upgrades_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    upgraded: list[tuple[Path, str]] = []
    monkeypatch.setattr("sys.argv", ["db-service", "migrate"])
    monkeypatch.setattr(cli, "upgrade", lambda where, url: upgraded.append((where, url)))
    settings = ServiceSettings(database_url="sqlite+aiosqlite:///x.db")
    cli.main(lambda s: FastAPI(), settings, tmp_path)
    assert upgraded == [(tmp_path, "sqlite+aiosqlite:///x.db")]
    assert "latest migration" in capsys.readouterr().out
    with pytest.raises(SystemExit, match="no migrations_dir"):
        cli.main(lambda s: FastAPI(), settings)


def test_serve_runs_the_app_with_a_graceful_shutdown(monkeypatch: pytest.MonkeyPatch) -> None:
    served: dict[str, Any] = {}
    monkeypatch.setattr("sys.argv", ["edge-service"])
    monkeypatch.setattr(
        cli.uvicorn, "run", lambda app, **kw: served.update(app=app, gc=gc.get_threshold(), **kw)
    )
    app = FastAPI()
    settings = EdgeSettings(port=8123)
    before = gc.get_threshold()
    try:
        cli.main(lambda s: app if s is settings else FastAPI(), settings)
    finally:
        gc.set_threshold(*before)
    # A burst's live objects are not walked by a young collection every 700 allocations.
    assert served["gc"] == cli.GC_THRESHOLDS and served["gc"][0] > before[0]
    assert served["app"] is app and served["port"] == 8123
    assert served["timeout_graceful_shutdown"] > 0  # in-flight requests finish on SIGTERM
    assert served["proxy_headers"] is False  # chassis.forwarding decides whom to believe


@pytest.mark.parametrize("nice", [0, 10])
def test_serve_lowers_the_priority_by_the_services_cpu_nice(
    monkeypatch: pytest.MonkeyPatch, nice: int
) -> None:
    added: list[int] = []
    monkeypatch.setattr("sys.argv", ["edge-service"])
    monkeypatch.setattr(cli.uvicorn, "run", lambda app, **kw: None)
    monkeypatch.setattr(cli.os, "nice", added.append)
    before = gc.get_threshold()
    try:
        cli.main(lambda s: FastAPI(), EdgeSettings(cpu_nice=nice))
    finally:
        gc.set_threshold(*before)
    assert added == ([nice] if nice else [])


def test_a_service_command_gets_the_settings_and_its_own_arguments(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    called: list[tuple[ServiceSettings, list[str]]] = []
    settings = EdgeSettings()
    monkeypatch.setattr("sys.argv", ["edge-service", "rebuild", "--group", "g", "--help"])
    monkeypatch.setattr(cli.uvicorn, "run", lambda *a, **kw: pytest.fail("not served"))
    cli.main(
        lambda s: FastAPI(),
        settings,
        commands={"rebuild": lambda s, argv: called.append((s, list(argv)))},
    )
    assert called == [(settings, ["--group", "g", "--help"])]
    monkeypatch.setattr("sys.argv", ["edge-service", "rebuild"])
    with pytest.raises(SystemExit):  # not a command of this service: argparse refuses it
        cli.main(lambda s: FastAPI(), settings)
