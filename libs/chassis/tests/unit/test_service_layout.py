"""chassis.service.Service finds the parts the layout fixes (`api.router`,
`config.MIGRATIONS_DIR`, `handlers.CONSUMERS`) in the package of its settings class, and takes
those a service gives instead."""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi import APIRouter

from chassis.app import Job
from chassis.service import Service

CONFIG = """
from pathlib import Path
from typing import ClassVar
from chassis.settings import ServiceSettings
MIGRATIONS_DIR = Path("/srv/toy/migrations")
class ToySettings(ServiceSettings, env_prefix="TOY_"):
    owns_database: ClassVar[bool] = {owns_database}
    service_name: str = "toy"
"""
API = "from fastapi import APIRouter\nrouter = APIRouter()\n"
HANDLERS = """
from chassis.consumer import EventConsumer
CONSUMERS = [EventConsumer("toy", "order.events", {})]
"""

Package = Callable[..., type[Any]]


@pytest.fixture
def toy_package(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Package]:
    """Writes `toy_service` with the given modules; gives its settings class."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(*, owns_database: bool = True, **modules: str) -> type[Any]:
        package = tmp_path / "toy_service"
        package.mkdir()
        (package / "__init__.py").write_text('"""A toy service."""\n')
        (package / "config.py").write_text(CONFIG.format(owns_database=owns_database))
        for name, text in modules.items():
            (package / f"{name}.py").write_text(text)
        importlib.invalidate_caches()
        settings: type[Any] = importlib.import_module("toy_service.config").ToySettings
        return settings

    yield write
    for name in [m for m in sys.modules if m.split(".")[0] == "toy_service"]:
        del sys.modules[name]


def test_the_layout_gives_routes_migrations_and_consumers(toy_package: Package) -> None:
    settings = toy_package(api=API, handlers=HANDLERS)
    spec = Service(settings, publishes=["toy.events"]).spec(settings())
    assert spec.routers == [importlib.import_module("toy_service.api").router]
    assert spec.migrations_dir == Path("/srv/toy/migrations")
    assert spec.consumers == importlib.import_module("toy_service.handlers").CONSUMERS
    assert spec.publishes == ["toy.events"]
    assert spec.title == "Toy service"


def test_without_handlers_or_a_database_there_is_nothing_to_find(toy_package: Package) -> None:
    settings = toy_package(owns_database=False, api=API)
    spec = Service(settings).spec(settings())
    assert spec.migrations_dir is None
    assert spec.consumers == ()


def test_what_a_service_names_replaces_the_layout(toy_package: Package) -> None:
    settings = toy_package(api=API, handlers=HANDLERS)
    routers = [APIRouter(), APIRouter()]
    service = Service(
        settings,
        routers=routers,
        migrations_dir=Path("/elsewhere"),
        consumers=[],
        title="Toy",
        jobs=lambda s: [Job(f"{s.service_name}-tick", 1.0, _tick)],
    )
    spec = service.spec(settings(), start_relay=False)
    assert spec.routers == routers
    assert spec.migrations_dir == Path("/elsewhere")
    assert spec.title == "Toy"
    assert [job.name for job in spec.jobs] == ["toy-tick"]
    assert spec.start_relay is False


def test_a_part_of_the_wrong_kind_is_refused(toy_package: Package) -> None:
    settings = toy_package(api="router = None\n")
    with pytest.raises(TypeError, match=r"toy_service\.api\.router should be of type APIRouter"):
        Service(settings).spec(settings())


def test_consumers_must_be_event_consumers(toy_package: Package) -> None:
    settings = toy_package(api=API, handlers="CONSUMERS = ['order.events']\n")
    with pytest.raises(TypeError, match="non-EventConsumer"):
        Service(settings).spec(settings())


async def _tick(runtime: object) -> None:
    return None
