from __future__ import annotations

import json
import uuid

import pytest

from shared_events import Envelope, EnvelopeError, from_kafka, registry, schema_uri, to_kafka
from shared_events.catalog import ProductPublishedV1, ProductUnpublishedV1, ProductViewedV1
from shared_events.topics import ALL_TOPICS, CATALOG_VIEWS, dead_letter_topic, topic_for_type


def make_envelope(**overrides: object) -> Envelope:
    fields: dict[str, object] = {
        "source": "/services/catalog",
        "type": "catalog.product.unpublished",
        "subject": "p-1",
        "dataschema": schema_uri("catalog.product.unpublished", 1),
        "dataversion": 1,
        "traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
        "correlationid": "order-9",
        "data": {"product_id": "p-1", "version": 3},
    }
    fields.update(overrides)
    return Envelope(**fields)  # type: ignore[arg-type]


def test_binary_binding_round_trip_keeps_every_attribute() -> None:
    envelope = make_envelope()
    record = to_kafka(envelope)

    assert record.key == b"p-1"
    assert json.loads(record.value) == {"product_id": "p-1", "version": 3}
    names = [name for name, _ in record.headers]
    assert "ce_id" in names and "ce_type" in names and "ce_traceparent" in names
    assert "ce_causationid" not in names  # absent attributes are not sent as empty headers
    assert from_kafka(record.value, record.headers) == envelope


def test_message_without_required_attributes_is_rejected() -> None:
    record = to_kafka(make_envelope())
    headers = [(k, v) for k, v in record.headers if k != "ce_type"]
    with pytest.raises(EnvelopeError, match="type"):
        from_kafka(record.value, headers)


@pytest.mark.parametrize("value", [b"not json", b"[1, 2]", None])
def test_data_must_be_a_json_object(value: bytes | None) -> None:
    with pytest.raises(EnvelopeError):
        from_kafka(value, to_kafka(make_envelope()).headers)


def test_dataversion_defaults_to_the_version_in_dataschema() -> None:
    record = to_kafka(make_envelope())
    headers = [(k, v) for k, v in record.headers if k != "ce_dataversion"]
    assert from_kafka(record.value, headers).dataversion == 1


def test_registry_parses_the_payload_model() -> None:
    payload = registry.parse(make_envelope())
    assert payload == ProductUnpublishedV1(product_id="p-1", version=3)


def test_unknown_extra_fields_are_tolerated_for_forward_compatibility() -> None:
    envelope = make_envelope(data={"product_id": "p-1", "version": 3, "added_later": True})
    assert isinstance(registry.parse(envelope), ProductUnpublishedV1)


def test_invalid_payload_is_an_envelope_error() -> None:
    with pytest.raises(EnvelopeError, match="invalid"):
        registry.parse(make_envelope(data={"product_id": "p-1"}))


def test_topics_follow_the_producing_service() -> None:
    assert topic_for_type("catalog.product.created") == "catalog.events"
    assert dead_letter_topic("catalog.events") == "catalog.events.dlq"
    assert registry.spec_for(ProductPublishedV1).topic == "catalog.events"
    assert str(uuid.UUID(str(make_envelope().id)))


def test_product_views_have_a_topic_of_their_own() -> None:
    # Clickstream: readers of catalog.events must not fetch it.
    assert topic_for_type("catalog.product.viewed") == CATALOG_VIEWS == "catalog.views"
    assert registry.spec_for(ProductViewedV1).topic == "catalog.views"
    assert CATALOG_VIEWS in ALL_TOPICS


def test_registry_builds_the_envelope_of_a_payload() -> None:
    envelope = registry.envelope(
        ProductUnpublishedV1(product_id="p-9", version=4), subject="p-9", correlation_id="c-1"
    )
    assert (envelope.type, envelope.source, envelope.dataversion) == (
        "catalog.product.unpublished",
        "/services/catalog",
        1,
    )
    assert envelope.dataschema == schema_uri("catalog.product.unpublished", 1)
    assert envelope.correlationid == "c-1" and envelope.causationid is None
    assert registry.parse(envelope) == ProductUnpublishedV1(product_id="p-9", version=4)
