"""A service declared once: its settings class and its own parts (routes, events, jobs, state).

Each service's `main.py` holds one `Service`; its `create_app` builds the settings when none are
given, names the app after the service and hands the chassis a `ServiceSpec`, the same way for
every service.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Generic, TypeVar

from fastapi import APIRouter, FastAPI

from chassis.app import Hook, Job, ServiceSpec, create_service_app
from chassis.consumer import EventConsumer
from chassis.settings import ServiceSettings

S = TypeVar("S", bound=ServiceSettings)


def _no_jobs(settings: ServiceSettings) -> Sequence[Job]:
    return ()


@dataclass(frozen=True)
class Service(Generic[S]):
    """What makes one service different from another, declared at import time."""

    settings: type[S]
    routers: Sequence[APIRouter]
    # Its Alembic history (config.MIGRATIONS_DIR); None for a service without a database.
    migrations_dir: Path | None = None
    publishes: Sequence[str] = ()
    consumers: Sequence[EventConsumer] = ()
    # As in `ServiceSpec`: the state built once the runtime exists, hooks run at start and at
    # shutdown (the latter closing what the state opened).
    state: Hook | None = None
    on_start: Sequence[Hook] = ()
    on_stop: Sequence[Hook] = ()
    # Periodic tasks; given the settings, which hold their intervals.
    jobs: Callable[[S], Sequence[Job]] = field(default=_no_jobs)
    # The OpenAPI title; None: "<Name> service", from the settings' service_name.
    title: str | None = None

    def spec(self, settings: S, *, start_relay: bool = True) -> ServiceSpec:
        return ServiceSpec(
            settings=settings,
            title=self.title or f"{settings.service_name.capitalize()} service",
            routers=self.routers,
            migrations_dir=self.migrations_dir,
            publishes=self.publishes,
            consumers=self.consumers,
            state=self.state,
            on_start=self.on_start,
            on_stop=self.on_stop,
            jobs=self.jobs(settings),
            start_relay=start_relay,
        )

    def create_app(self, settings: S | None = None, *, start_relay: bool = True) -> FastAPI:
        """The service's app; settings from the environment unless given. Tests turn the
        relay off (`start_relay=False`) to simulate a relay that is down."""
        return create_service_app(self.spec(settings or self.settings(), start_relay=start_relay))
