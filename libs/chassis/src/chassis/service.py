"""A service declared once: its settings class and its own parts (routes, events, jobs, state).

Each service's `main.py` holds one `Service`. What the layout puts in fixed places
(docs/architecture.md, "One layout for every service") it finds there unless given otherwise,
in the package whose `config.py` defines the settings class: the routes `api.router`, the
migrations `config.MIGRATIONS_DIR` (a service with a database) and the consumers
`handlers.CONSUMERS` (a service with a `handlers.py`). Its `create_app` builds the settings when
none are given, names the app after the service and hands the chassis a `ServiceSpec`, the same
way for every service.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Generic, TypeVar

from fastapi import APIRouter, FastAPI

from chassis.app import Job, ServiceParts, ServiceSpec, create_service_app
from chassis.consumer import EventConsumer
from chassis.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)
T = TypeVar("T")


def _no_jobs(settings: ServiceSettings) -> Sequence[Job]:
    return ()


@dataclass(frozen=True)
class Service(ServiceParts, Generic[S]):
    """What makes one service different from another, declared at import time. `routers`,
    `migrations_dir` and `consumers` left empty are the layout's; a service gives them only
    where it differs (a second router)."""

    settings: type[S]
    # Periodic tasks; given the settings, which hold their intervals.
    jobs: Callable[[S], Sequence[Job]] = field(default=_no_jobs)
    # The OpenAPI title; None: "<Name> service", from the settings' service_name.
    title: str | None = None

    def spec(self, settings: S, *, start_relay: bool = True) -> ServiceSpec:
        parts = {part.name: getattr(self, part.name) for part in fields(ServiceParts)}
        return ServiceSpec(
            **(parts | self._found_in_layout()),
            settings=settings,
            title=self.title or f"{settings.service_name.capitalize()} service",
            jobs=self.jobs(settings),
            start_relay=start_relay,
        )

    def create_app(self, settings: S | None = None, *, start_relay: bool = True) -> FastAPI:
        """The service's app; settings from the environment unless given. Tests turn the
        relay off (`start_relay=False`) to simulate a relay that is down."""
        return create_service_app(self.spec(settings or self.settings(), start_relay=start_relay))

    def _found_in_layout(self) -> dict[str, object]:
        """The parts not given, from the modules the layout keeps them in."""
        package = self.settings.__module__.rpartition(".")[0]
        found: dict[str, object] = {}
        if not self.routers:
            found["routers"] = [_part(f"{package}.api", "router", APIRouter)]
        if self.migrations_dir is None and self.settings.owns_database:
            found["migrations_dir"] = _part(f"{package}.config", "MIGRATIONS_DIR", Path)
        if not self.consumers and importlib.util.find_spec(f"{package}.handlers") is not None:
            consumers = _part(f"{package}.handlers", "CONSUMERS", list)
            if not all(isinstance(consumer, EventConsumer) for consumer in consumers):
                raise TypeError(f"{package}.handlers.CONSUMERS holds a non-EventConsumer")
            found["consumers"] = consumers
        return found


def _part(module: str, name: str, kind: type[T]) -> T:
    value = getattr(importlib.import_module(module), name, None)
    if not isinstance(value, kind):
        raise TypeError(f"{module}.{name} should be of type {kind.__name__} (the service layout)")
    return value
