"""Who publishes and who consumes each event of the suite, read from the code rather than
written down: the registry in `shared_events` (types, versions, topics, upcasters) and each
service's handler map (`<service>_service.handlers.CONSUMERS`). The AsyncAPI files and the event
catalog (`make docs`) are both drawn from this one map."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from pathlib import Path

import shared_events
from chassis.consumer import EventConsumer
from shared_events.registry import EventRegistry, EventSpec

ROOT = Path(__file__).resolve().parents[1]


@dataclass(frozen=True, slots=True)
class Consumption:
    """One service's handler for one event type, written for one version."""

    service: str
    consumer: str  # the EventConsumer's name
    topic: str
    event_type: str
    version: int
    handler: str  # module.function


@dataclass
class EventEntry:
    """One event type: its producer, topic, versions and consumers."""

    type: str
    producer: str
    topic: str
    versions: list[EventSpec] = field(default_factory=list)
    upcasters_from: list[int] = field(default_factory=list)  # v -> v+1 exists
    consumers: list[Consumption] = field(default_factory=list)

    @property
    def latest(self) -> EventSpec:
        return max(self.versions, key=lambda spec: spec.version)


def service_names() -> list[str]:
    """Services with a handler map, by their folder under services/."""
    return sorted(
        path.parents[2].name for path in (ROOT / "services").glob("*/src/*_service/handlers.py")
    )


def handler_maps() -> dict[str, list[EventConsumer]]:
    maps: dict[str, list[EventConsumer]] = {}
    for name in service_names():
        module = importlib.import_module(f"{name}_service.handlers")
        maps[name] = list(module.CONSUMERS)
    return maps


def consumptions() -> list[Consumption]:
    found: list[Consumption] = []
    for service, consumers in handler_maps().items():
        for consumer in consumers:
            for model, fn in consumer.handlers.items():
                found.append(
                    Consumption(
                        service=service,
                        consumer=consumer.name,
                        topic=consumer.topic,
                        event_type=model.event_type,
                        version=model.event_version,
                        handler=f"{fn.__module__}.{fn.__qualname__}",
                    )
                )
    return found


def producer_of(event_type: str) -> str:
    """`inventory.stock.committed` is published by inventory."""
    return event_type.split(".", 1)[0]


def contract_map(registry: EventRegistry = shared_events.registry) -> dict[str, EventEntry]:
    """Every registered event type with its versions, producer, topic and consumers."""
    entries: dict[str, EventEntry] = {}
    for spec in registry:
        entry = entries.setdefault(
            spec.type, EventEntry(spec.type, producer_of(spec.type), spec.topic)
        )
        entry.versions.append(spec)
        if registry.has_upcaster(spec.type, spec.version):
            entry.upcasters_from.append(spec.version)
    for consumption in consumptions():
        entries[consumption.event_type].consumers.append(consumption)
    return dict(sorted(entries.items()))
