"""From a Kafka record to (envelope, payload, handler), with the contract's rules:

- route on the `ce_type` header before parsing anything: a type with no handler is ignored
  (new event types appear without notice);
- of an event published in several versions at once (`ce_dataversions: 1,2`, one record per
  version), read the one record `shared_events.registry.version_to_read` names for the
  handler's version and skip its twins, so that the event is seen once;
- parse through the registry as the handler's version: older data is upcast, fields this
  version does not know are ignored (`EventPayload` ignores extra fields).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from downstream_starter.handlers import Handler
from shared_events import Envelope, EnvelopeError, EventPayload, from_kafka, registry
from shared_events.envelope import parse_versions
from shared_events.registry import version_to_read


@dataclass(frozen=True, slots=True)
class Readable:
    envelope: Envelope
    payload: EventPayload
    handler: Handler


@dataclass(frozen=True, slots=True)
class Skipped:
    why: str  # "unknown type" or "twin"


@dataclass(frozen=True, slots=True)
class Unreadable:
    """A record of a handled type this starter cannot read: not an envelope, or a version
    newer than its handler (the starter is older than the producer's deprecation window)."""

    event_id: str
    type: str
    error: str


Routes = Mapping[str, tuple[type[EventPayload], Handler]]


def routes(handlers: Mapping[type[EventPayload], Handler]) -> Routes:
    """Handlers by event type; one per type (its model says which version it reads)."""
    found = {model.event_type: (model, fn) for model, fn in handlers.items()}
    if len(found) != len(handlers):
        raise ValueError("one handler per event type, not one per version")
    return found


def read(
    value: bytes | None, headers: Sequence[tuple[str, bytes]], by_type: Routes
) -> Readable | Skipped | Unreadable:
    attrs = {name: raw.decode(errors="replace") for name, raw in headers if raw is not None}
    entry = by_type.get(attrs.get("ce_type", ""))
    if entry is None:
        return Skipped("unknown type")
    model, handler = entry
    event_id, event_type = attrs.get("ce_id", "?"), attrs["ce_type"]
    try:
        if "ce_dataversions" in attrs and "ce_dataversion" in attrs:
            versions = parse_versions(attrs["ce_dataversions"])
            if int(attrs["ce_dataversion"]) != version_to_read(versions, model.event_version):
                return Skipped("twin")
        envelope = from_kafka(value, list(headers))
        payload = registry.parse(envelope, model.event_version)
    except (EnvelopeError, ValueError) as exc:  # UnknownEventError is an EnvelopeError
        return Unreadable(event_id, event_type, f"{type(exc).__name__}: {exc}")
    return Readable(envelope, payload, handler)
