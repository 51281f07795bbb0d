from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from shared_events import Envelope, EventPayload, EventRegistry, schema_uri
from shared_events.order import PaymentRequestedV1
from shared_events.registry import UnknownEventError


def build_registry() -> EventRegistry:
    reg = EventRegistry()

    @reg.event("demo.thing.happened", 1, key="id")
    class ThingHappenedV1(EventPayload):
        name: str

    @reg.event("demo.thing.happened", 2, key="id")
    class ThingHappenedV2(EventPayload):
        first_name: str
        last_name: str

    @reg.upcaster("demo.thing.happened", from_version=1)
    def split_name(data: dict[str, Any]) -> dict[str, Any]:
        first, _, last = data.pop("name").partition(" ")
        return {**data, "first_name": first, "last_name": last}

    return reg


def envelope(version: int, data: dict[str, Any]) -> Envelope:
    return Envelope(
        source="/services/demo",
        type="demo.thing.happened",
        subject="t-1",
        dataschema=schema_uri("demo.thing.happened", version),
        dataversion=version,
        data=data,
    )


def test_old_version_is_upcast_to_the_newest() -> None:
    reg = build_registry()
    payload = reg.parse(envelope(1, {"name": "Ada Lovelace"}))
    assert payload.model_dump() == {"first_name": "Ada", "last_name": "Lovelace"}
    assert payload.event_version == 2


def test_a_consumer_may_ask_for_the_version_it_was_written_for() -> None:
    reg = build_registry()
    payload = reg.parse(envelope(1, {"name": "Ada Lovelace"}), version=1)
    assert payload.model_dump() == {"name": "Ada Lovelace"}


def test_newer_data_than_known_is_refused() -> None:
    reg = build_registry()
    with pytest.raises(UnknownEventError):
        reg.parse(envelope(2, {"first_name": "A", "last_name": "B"}), version=1)


def test_registering_a_version_twice_fails() -> None:
    reg = build_registry()
    with pytest.raises(ValueError, match="twice"):

        @reg.event("demo.thing.happened", 1, key="id")
        class Again(EventPayload):
            pass


def test_missing_upcaster_is_reported() -> None:
    reg = EventRegistry()

    @reg.event("demo.x.done", 1, key="id")
    class XV1(EventPayload):
        a: int

    @reg.event("demo.x.done", 2, key="id")
    class XV2(EventPayload):
        b: int

    e = Envelope(
        source="/s",
        type="demo.x.done",
        subject="s",
        dataschema=schema_uri("demo.x.done", 1),
        dataversion=1,
        data={"a": 1},
    )
    with pytest.raises(UnknownEventError, match="upcaster"):
        reg.parse(e)


def test_a_validation_error_names_the_field_not_the_values() -> None:
    """A consumer logs the error of a payload it cannot read, and dead-letters it with the
    error in a header: the payment token beside the missing field must not be in it."""
    data = {"order_id": "o-1", "member_id": "m-1", "payment_token": "tok_SECRET_4242"}
    with pytest.raises(ValidationError) as caught:
        PaymentRequestedV1.model_validate(data)
    text = f"{caught.value!r} {caught.value}"
    assert "amount" in text
    assert "tok_SECRET_4242" not in text
