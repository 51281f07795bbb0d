"""Registry of event payload models by (type, version), with upcasters between versions."""

from __future__ import annotations

import builtins
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict

from shared_events.envelope import Envelope, EnvelopeError, schema_uri
from shared_events.topics import topic_for_type

Upcaster = Callable[[dict[str, Any]], dict[str, Any]]


class EventPayload(BaseModel):
    """Base of every event payload. Consumers ignore fields they do not know yet, because a
    version may gain optional fields. A validation error names the fields at fault, never
    their values: it reaches logs and dead-letter headers, and a payload may carry a payment
    token or an address."""

    model_config = ConfigDict(extra="ignore", frozen=True, hide_input_in_errors=True)

    event_type: ClassVar[str]
    event_version: ClassVar[int]
    # Fields that must not outlive their use: dead-letter copies carry them redacted.
    sensitive_fields: ClassVar[frozenset[str]] = frozenset()


P = TypeVar("P", bound=type[EventPayload])


@dataclass(frozen=True, slots=True)
class EventSpec:
    type: str
    version: int
    model: builtins.type[EventPayload]  # `type` is the field above
    # What the subject (the Kafka key) is: events with the same key are in one partition, in
    # the order they were published.
    key: str = ""

    @property
    def topic(self) -> str:
        return topic_for_type(self.type)

    @property
    def dataschema(self) -> str:
        return schema_uri(self.type, self.version)


def version_to_read(versions: tuple[int, ...], wanted: int) -> int:
    """Of an event published in `versions` at once (one record each, every one carrying
    `ce_dataversions`), the one record a consumer written for `wanted` reads, so that it sees
    the event once: `wanted` itself when listed; else the newest older one (upcast); else the
    oldest, newer than the consumer can read (it fails loudly, once per event: a consumer older
    than the deprecation window). Every other record of the event is skipped."""
    if wanted in versions:
        return wanted
    older = [v for v in versions if v < wanted]
    return max(older) if older else min(versions)


class UnknownEventError(EnvelopeError):
    """No model is registered for this (type, version) and no upcaster leads to one."""


class EventRegistry:
    def __init__(self) -> None:
        self._specs: dict[tuple[str, int], EventSpec] = {}
        self._upcasters: dict[tuple[str, int], Upcaster] = {}

    def event(self, event_type: str, version: int, *, key: str) -> Callable[[P], P]:
        """Class decorator: register a payload model as `event_type` version `version`, whose
        subject (the Kafka key) is `key` (for the docs: "order id", "SKU", ...)."""

        def register(model: P) -> P:
            spec_key = (event_type, version)
            if spec_key in self._specs:
                raise ValueError(f"{event_type} v{version} is registered twice")
            model.event_type = event_type
            model.event_version = version
            self._specs[spec_key] = EventSpec(event_type, version, model, key)
            return model

        return register

    def upcaster(self, event_type: str, from_version: int) -> Callable[[Upcaster], Upcaster]:
        """Register a function that turns data of `from_version` into `from_version + 1`."""

        def register(fn: Upcaster) -> Upcaster:
            self._upcasters[(event_type, from_version)] = fn
            return fn

        return register

    def upcaster_from(self, event_type: str, from_version: int) -> Upcaster | None:
        """The function that turns data of `from_version` into `from_version + 1`, if any."""
        return self._upcasters.get((event_type, from_version))

    def has_upcaster(self, event_type: str, from_version: int) -> bool:
        """Whether data of `from_version` can be upcast to `from_version + 1`."""
        return (event_type, from_version) in self._upcasters

    def spec(self, event_type: str, version: int) -> EventSpec:
        try:
            return self._specs[(event_type, version)]
        except KeyError:
            raise UnknownEventError(f"no event {event_type} v{version} is registered") from None

    def spec_for(self, model: type[EventPayload]) -> EventSpec:
        return self.spec(model.event_type, model.event_version)

    def latest(self, event_type: str) -> EventSpec:
        versions = [v for (t, v) in self._specs if t == event_type]
        if not versions:
            raise UnknownEventError(f"no event {event_type} is registered")
        return self._specs[(event_type, max(versions))]

    def envelope(
        self,
        payload: EventPayload,
        *,
        subject: str,
        source: str | None = None,
        id: uuid.UUID | None = None,
        correlation_id: str | None = None,
        causation_id: str | None = None,
        traceparent: str | None = None,
        dataversions: tuple[int, ...] | None = None,
    ) -> Envelope:
        """The envelope of a registered payload: type, dataschema and version from the spec;
        `source` defaults to `/services/<producing service>`. `dataversions`: every version
        of this event published beside it (`versions_of`), on a record published in several."""
        spec = self.spec_for(type(payload))
        return Envelope(
            id=id or uuid.uuid4(),
            source=source or f"/services/{spec.type.split('.', 1)[0]}",
            type=spec.type,
            subject=subject,
            dataschema=spec.dataschema,
            dataversion=spec.version,
            traceparent=traceparent,
            correlationid=correlation_id,
            causationid=causation_id,
            dataversions=dataversions,
            data=payload.model_dump(mode="json"),
        )

    def versions_of(
        self, payload: EventPayload, older: Sequence[EventPayload]
    ) -> tuple[int, ...] | None:
        """The `dataversions` of `payload` published with `older` (the same event in older
        versions, each once): every version, ascending; None when `older` is empty.
        ValueError when an `older` payload is another event type or not an older version."""
        if not older:
            return None
        newest = self.spec_for(type(payload))
        versions = {newest.version}
        for twin in older:
            spec = self.spec_for(type(twin))
            if spec.type != newest.type:
                raise ValueError(f"{spec.type} cannot be published as a version of {newest.type}")
            if spec.version >= newest.version:
                raise ValueError(f"{spec.type} v{spec.version} is not older than v{newest.version}")
            if spec.version in versions:
                raise ValueError(f"{spec.type} v{spec.version} is staged twice")
            versions.add(spec.version)
        return tuple(sorted(versions))

    def __iter__(self) -> Iterator[EventSpec]:
        return iter(sorted(self._specs.values(), key=lambda s: (s.type, s.version)))

    def parse(self, envelope: Envelope, version: int | None = None) -> EventPayload:
        """Validate the envelope's data as `version` (default: the newest registered),
        upcasting older data step by step."""
        target = version if version is not None else self.latest(envelope.type).version
        data, current = dict(envelope.data), envelope.dataversion
        if current > target:
            raise UnknownEventError(
                f"{envelope.type} v{current} is newer than v{target} known here"
            )
        while current < target:
            step = self._upcasters.get((envelope.type, current))
            if step is None:
                raise UnknownEventError(f"no upcaster for {envelope.type} v{current}")
            data, current = step(data), current + 1
        try:
            return self.spec(envelope.type, target).model.model_validate(data)
        except ValueError as exc:
            raise EnvelopeError(f"{envelope.type} v{target} data is invalid: {exc}") from exc


registry = EventRegistry()
