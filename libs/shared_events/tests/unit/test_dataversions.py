"""The `dataversions` extension attribute: an event published in several versions at once."""

from __future__ import annotations

import pytest

from shared_events import EnvelopeError, from_kafka, registry, to_kafka
from shared_events.catalog import ProductUnpublishedV1
from shared_events.inventory import (
    CommittedLine,
    LotAllocation,
    StockCommittedV1,
    StockCommittedV2,
    StockLine,
)

V1 = StockCommittedV1(order_id="o-1", lines=[StockLine(sku="TEA-1", quantity=2)])
V2 = StockCommittedV2(
    order_id="o-1",
    lines=[
        CommittedLine(
            sku="TEA-1",
            quantity=2,
            allocations=[LotAllocation(lot="L-7", quantity=2, trace_code="TR-1")],
        )
    ],
)


def header(headers: list[tuple[str, bytes]], name: str) -> bytes | None:
    return next((value for key, value in headers if key == name), None)


def test_dataversions_travel_as_one_header_and_come_back() -> None:
    envelope = registry.envelope(V2, subject="o-1", dataversions=(1, 2))
    record = to_kafka(envelope)

    assert header(record.headers, "ce_dataversion") == b"2"
    assert header(record.headers, "ce_dataversions") == b"1,2"
    assert from_kafka(record.value, record.headers) == envelope


def test_an_ordinary_record_has_no_dataversions_header() -> None:
    envelope = registry.envelope(V1, subject="o-1")
    record = to_kafka(envelope)

    assert envelope.dataversions is None
    assert header(record.headers, "ce_dataversions") is None
    assert from_kafka(record.value, record.headers).dataversions is None


@pytest.mark.parametrize("text", [b"", b"1,,2", b"one,two", b"0,1"])
def test_a_malformed_dataversions_header_is_an_envelope_error(text: bytes) -> None:
    record = to_kafka(registry.envelope(V2, subject="o-1", dataversions=(1, 2)))
    headers = [(k, text if k == "ce_dataversions" else v) for k, v in record.headers]
    with pytest.raises(EnvelopeError, match="dataversions"):
        from_kafka(record.value, headers)


def test_versions_of_lists_every_version_staged_ascending() -> None:
    assert registry.versions_of(V2, [V1]) == (1, 2)
    assert registry.versions_of(V2, []) is None


@pytest.mark.parametrize(
    ("payload", "older", "message"),
    [
        (V2, [ProductUnpublishedV1(product_id="p", version=1)], "cannot be published"),
        (V1, [V2], "not older"),
        (V2, [V2], "not older"),
        (V2, [V1, V1], "twice"),
    ],
)
def test_older_must_be_older_versions_of_the_same_event(
    payload: StockCommittedV2 | StockCommittedV1,
    older: list[StockCommittedV1 | StockCommittedV2 | ProductUnpublishedV1],
    message: str,
) -> None:
    with pytest.raises(ValueError, match=message):
        registry.versions_of(payload, older)


def test_a_v1_commit_read_by_a_v2_consumer_has_no_allocations() -> None:
    stored = registry.envelope(V1, subject="o-1")
    payload = registry.parse(stored, version=2)
    assert payload == StockCommittedV2(
        order_id="o-1", lines=[CommittedLine(sku="TEA-1", quantity=2, allocations=[])]
    )
