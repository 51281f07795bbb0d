"""The services `make run` starts, read from the workspace and each service's own settings.

Every `services/<name>/src/<name>_service/config.py` holding a `ServiceSettings` subclass is a
service of the suite. Its port, environment prefix, whether it owns a database, and the names of
the variables that set them come from that class (its defaults and `env_prefix`), so a service
moved to another port, or a new one, needs no edit here. What only the launcher knows (the start
order, where each service keeps its SQLite file, the demo's flash-sale cap) is kept here once.
"""

from __future__ import annotations

import importlib
import inspect
import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import AliasChoices, SecretStr

from chassis.settings import ServiceSettings
from tools.seed import DemoCatalog
from tools.suite.errors import SuiteError
from tools.suite.places import DATA_DIR, ROOT, relative


def variable(settings: type[ServiceSettings], field: str) -> str:
    """The environment variable that sets `field`: its alias for a suite-wide setting
    (`REDIS_URL`, `BOOTSTRAP_ADMIN_EMAIL`), else the service's prefix and the field's name."""
    alias = settings.model_fields[field].validation_alias
    if isinstance(alias, AliasChoices) and isinstance(alias.choices[0], str):
        return alias.choices[0]
    if isinstance(alias, str):
        return alias
    return f"{settings.model_config.get('env_prefix', '')}{field}".upper()


def default(settings: type[ServiceSettings], field: str) -> Any:
    """The development default of `field` (a secret's value unwrapped)."""
    value = settings.model_fields[field].get_default(call_default_factory=True)
    return value.get_secret_value() if isinstance(value, SecretStr) else value


HOST: str = default(ServiceSettings, "host")
# Membership issues the tokens every other service verifies (its JWKS): it starts first.
ISSUER = "membership"
FLASH_SALE_PER_MEMBER = 2  # the demo's flash-sale SKU, per member, at the gateway


def env_port(name: str, fallback: int) -> int:
    """`fallback` unless the environment variable `name` names another port."""
    value = os.environ.get(name, str(fallback))
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise SuiteError(f"{name}={value!r} is not a port number")
    return int(value)


@dataclass(frozen=True)
class ServiceRow:
    """One service of the suite: its package and its settings class."""

    module: str  # `python -m <module> serve`
    settings: type[ServiceSettings]

    @property
    def name(self) -> str:
        return str(default(self.settings, "service_name"))

    @property
    def port(self) -> int:
        """The port the service listens on by default."""
        return int(default(self.settings, "port"))

    @property
    def env_prefix(self) -> str:
        return str(self.settings.model_config.get("env_prefix", ""))

    @property
    def owns_database(self) -> bool:
        return self.settings.owns_database  # the gateway keeps nothing but Redis counters

    def variable(self, field: str) -> str:
        return variable(self.settings, field)

    def resolved_port(self) -> int:
        """The default port unless `<PREFIX>PORT` overrides it."""
        return env_port(self.variable("port"), self.port)

    def url(self) -> str:
        return f"http://{HOST}:{self.resolved_port()}"

    def database_variable(self) -> str:
        return self.variable("database_url")

    def environment(self, shared: Mapping[str, str]) -> dict[str, str]:
        env = {**os.environ, **shared, self.variable("port"): str(self.resolved_port())}
        # Under the data folder, so that SUITE_DATA_DIR moves it. An explicit setting wins.
        if self.owns_database:
            env.setdefault(self.database_variable(), f"sqlite+aiosqlite:///{self.sqlite_path()}")
        return env

    def database_label(self) -> str:
        """For the status table: the SQLite file, or the variable naming another database (its
        URL may carry a password)."""
        if not self.owns_database:
            return "Redis only"
        if self.database_variable() in os.environ:
            return f"${self.database_variable()}"
        return relative(self.sqlite_path())

    def sqlite_path(self) -> Path:
        return DATA_DIR / f"{self.name}.db"


def settings_class(module: str) -> type[ServiceSettings]:
    """The `ServiceSettings` subclass that `<module>.config` defines."""
    config = importlib.import_module(f"{module}.config")
    found = [
        value
        for value in vars(config).values()
        if inspect.isclass(value)
        and issubclass(value, ServiceSettings)
        and value.__module__ == config.__name__
    ]
    if len(found) != 1:
        raise SuiteError(f"{module}.config defines {len(found)} ServiceSettings classes, not 1")
    return found[0]


def discover(root: Path = ROOT) -> tuple[ServiceRow, ...]:
    """Every service of the workspace: the token issuer first, the gateway (no database) last."""
    modules = sorted(path.parent.name for path in root.glob("services/*/src/*_service/config.py"))
    rows = []
    for module in modules:
        try:
            rows.append(ServiceRow(module, settings_class(module)))
        except ImportError as error:
            error.add_note(f"tools.suite reads every service's settings: fix {module}.config")
            raise
    return tuple(sorted(rows, key=lambda r: (r.name != ISSUER, not r.owns_database, r.name)))


SERVICES = discover()


def service_row(name: str) -> ServiceRow:
    return next(row for row in SERVICES if row.name == name)


def services_environment() -> dict[str, str]:
    """What the services learn about each other: the issuer's JWKS, the gateway's upstreams
    and the demo's flash-sale cap."""
    return {**jwks_url(), **upstream_urls(), **flash_sale_limits()}


def jwks_url() -> dict[str, str]:
    """`JWKS_URL` if set, else the issuer's JWKS at its (possibly overridden) port."""
    name = variable(ServiceSettings, "jwks_url")
    path = urlsplit(default(ServiceSettings, "jwks_url")).path
    return {name: os.environ.get(name, f"{service_row(ISSUER).url()}{path}")}


def upstream_urls() -> dict[str, str]:
    """Where the gateway finds each service (`GATEWAY_CATALOG_URL`, ...), so that a port moved
    with `<PREFIX>PORT` moves its route too. An explicit setting wins."""
    gateway = service_row("gateway")
    urls = {
        gateway.variable(f"{row.name}_url"): row.url()
        for row in SERVICES
        if f"{row.name}_url" in gateway.settings.model_fields
    }
    return {**urls, **{key: value for key, value in os.environ.items() if key in urls}}


def flash_sale_limits() -> dict[str, str]:
    """The demo's flash-sale SKU, capped per member at the gateway; `GATEWAY_FLASH_SALE_LIMITS`
    from the environment wins."""
    name = service_row("gateway").variable("flash_sale_limits")
    if name in os.environ:
        return {name: os.environ[name]}
    sku = DemoCatalog.load().flash_sale_sku
    return {name: json.dumps({sku: FLASH_SALE_PER_MEMBER})}
