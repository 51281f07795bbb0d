"""Every service has the layout of docs/architecture.md ("One layout for every service").

Walks services/*/src/<name>_service: the files and packages it may and must have, the parts
`chassis.service.Service` finds by the layout (`api.router`, `config.MIGRATIONS_DIR`,
`handlers.CONSUMERS`), docstring-only `__init__.py` files, handlers declared at module level in
`handlers.py`, a `domain/` without I/O, and no import of another service.
"""

from __future__ import annotations

import ast
import importlib
import inspect
from pathlib import Path

import pytest
from fastapi import APIRouter

from chassis.consumer import EventConsumer
from chassis.service import Service

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    pytest.param(p, id=p.name) for p in sorted(ROOT.glob("services/*/src/*_service")) if p.is_dir()
]
NAMES = [p.name for p in ROOT.glob("services/*/src/*_service") if p.is_dir()]

EVERYWHERE = {"__init__.py", "__main__.py", "main.py", "config.py", "deps.py", "api.py"}
WITH_DATABASE = {"schemas.py", "tables.py", "domain", "service"}
OPTIONAL = {"handlers.py", "adapters", "schemas.py", "service", "static"}
# `static/`: files a service serves as they are (analytics' dashboard page), shipped in its
# wheel. Data, not code: no Python module may hide there.
STATIC_SUFFIXES = {".html", ".css", ".js", ".svg", ".png", ".ico"}
# What a domain module may import besides the standard library's pure parts and its own domain.
IO_MODULES = {
    "sqlalchemy",
    "sqlmodel",
    "asyncpg",
    "aiosqlite",
    "redis",
    "httpx",
    "aiohttp",
    "aiokafka",
    "faststream",
    "fastapi",
    "starlette",
    "aiosmtplib",
    "smtplib",
    "socket",
    "asyncio",
    "alembic",
}
# The domain-rule error base and the address buckets: no I/O behind either.
CHASSIS_FOR_DOMAIN = {"chassis.rules", "chassis.addresses"}


def python_files(package: Path) -> list[Path]:
    return sorted(p for p in package.rglob("*.py") if "__pycache__" not in p.parts)


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
    return found


def has_database(package: Path) -> bool:
    return (package.parents[1] / "migrations" / "env.py").is_file()


@pytest.mark.parametrize("package", PACKAGES)
def test_the_service_has_the_modules_of_the_layout_and_no_others(package: Path) -> None:
    present = {p.name for p in package.iterdir() if p.name != "__pycache__"}
    required = set(EVERYWHERE)
    if has_database(package):
        required |= WITH_DATABASE
    allowed = EVERYWHERE | WITH_DATABASE | OPTIONAL
    assert not required - present, f"{package.name} lacks {sorted(required - present)}"
    assert not present - allowed, f"{package.name} has modules outside the layout: " + str(
        sorted(present - allowed)
    )
    for name in ("domain", "service", "adapters"):
        if (package / name).exists():
            assert (package / name / "__init__.py").is_file(), f"{package.name}/{name} package"
    if (package / "static").exists():
        files = [p for p in (package / "static").rglob("*") if p.is_file()]
        odd = [p.name for p in files if p.suffix not in STATIC_SUFFIXES]
        assert not odd, f"{package.name}/static holds more than page files: {odd}"


@pytest.mark.parametrize("package", PACKAGES)
def test_the_service_finds_its_parts_where_the_layout_puts_them(package: Path) -> None:
    """main.py's `Service` reads the routes, migrations and consumers from these places (a
    service consumes events exactly when it has a handlers.py)."""
    main = importlib.import_module(f"{package.name}.main")
    declared = [value for value in vars(main).values() if isinstance(value, Service)]
    assert len(declared) == 1, f"{package.name}/main.py declares one Service"
    service = declared[0]
    config = importlib.import_module(f"{package.name}.config")
    assert service.settings.__module__ == config.__name__, "the settings class is config.py's"
    assert isinstance(importlib.import_module(f"{package.name}.api").router, APIRouter)
    assert service.settings.owns_database == has_database(package)
    if has_database(package):
        assert package.parents[1] / "migrations" == config.MIGRATIONS_DIR
    spec = service.spec(service.settings())
    assert bool(spec.consumers) == (package / "handlers.py").exists()


@pytest.mark.parametrize("package", PACKAGES)
def test_every_init_holds_a_docstring_and_nothing_else(package: Path) -> None:
    for init in package.rglob("__init__.py"):
        body = ast.parse(init.read_text()).body
        assert body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant)
        rest = [n for n in body[1:] if not _is_future_import(n)]
        assert not rest, f"{init.relative_to(ROOT)} holds code; import from the defining module"


def _is_future_import(node: ast.stmt) -> bool:
    return isinstance(node, ast.ImportFrom) and node.module == "__future__"


@pytest.mark.parametrize("package", PACKAGES)
def test_handlers_are_module_level_functions_in_one_map(package: Path) -> None:
    if not (package / "handlers.py").exists():
        return
    module = importlib.import_module(f"{package.name}.handlers")
    consumers = module.CONSUMERS
    assert isinstance(consumers, list) and consumers
    assert all(isinstance(c, EventConsumer) for c in consumers)
    for consumer in consumers:
        for event, handler in consumer.handlers.items():
            where = f"{package.name}: {event.__name__} -> {handler!r}"
            assert inspect.iscoroutinefunction(handler), where
            assert handler.__module__ == module.__name__, where
            assert handler.__qualname__ == handler.__name__, where  # not nested, not a method
            assert getattr(module, handler.__name__) is handler, where


@pytest.mark.parametrize("package", PACKAGES)
def test_the_domain_does_no_io(package: Path) -> None:
    domain = package / "domain"
    if not domain.exists():
        return
    for path in python_files(domain):
        for name in imported_modules(path):
            top = name.split(".")[0]
            assert top not in IO_MODULES, f"{path.relative_to(ROOT)} imports {name}"
            if top == "chassis":
                assert name in CHASSIS_FOR_DOMAIN, f"{path.relative_to(ROOT)} imports {name}"
            if top.endswith("_service"):
                assert name.startswith(f"{package.name}.domain"), (
                    f"{path.relative_to(ROOT)} imports {name}"
                )


@pytest.mark.parametrize("package", PACKAGES)
def test_no_service_imports_another(package: Path) -> None:
    others = {name for name in NAMES if name != package.name}
    for path in python_files(package):
        for name in imported_modules(path):
            assert name.split(".")[0] not in others, f"{path.relative_to(ROOT)} imports {name}"
