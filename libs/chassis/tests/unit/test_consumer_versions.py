"""Routing an event published in several versions at once: a handler reads one record per
event, the one of its version, or one it can upcast, or (older than the window) dead-letters
one. Routing and parsing only: no database, no broker."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.consumer import ConsumerRunner, Delivery, EventConsumer, _Work, version_to_read
from chassis.db import Database
from chassis.outbox import Outbox
from chassis.producer import EventProducer
from shared_events import Envelope, EventPayload, EventRegistry, from_kafka, registry, to_kafka
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


class DeadLetters:
    """The producer's dead-letter path, recording instead of sending."""

    def __init__(self) -> None:
        self.sent: list[str] = []

    async def send_raw(self, topic: str, *_: object) -> None:
        self.sent.append(topic)


async def ignore(delivery: Delivery[Any], payload: EventPayload) -> None:
    pass


def runner_for(model: type[EventPayload], reg: EventRegistry = registry) -> ConsumerRunner:
    consumer = EventConsumer("test-versions", "inventory.events", {model: ignore}, reg)
    no_database = cast(Database, None)  # routing never opens a transaction
    return ConsumerRunner(consumer, no_database, cast(EventProducer, DeadLetters()), "test")


def polled(envelope: Envelope) -> SimpleNamespace:
    record = to_kafka(envelope)
    return SimpleNamespace(
        topic="inventory.events",
        partition=0,
        offset=0,
        key=record.key,
        value=record.value,
        headers=record.headers,
    )


async def route(runner: ConsumerRunner, envelope: Envelope) -> EventPayload | str:
    prepared = await runner._prepare(polled(envelope))
    return prepared.payload if isinstance(prepared, _Work) else prepared


def dead_letters(runner: ConsumerRunner) -> list[str]:
    return cast(DeadLetters, runner.producer).sent


# The twins of one commit published during the deprecation window, and a stored v1 commit
# published before v2 existed.
V2_TWIN = registry.envelope(V2, subject="o-1", dataversions=(1, 2))
V1_TWIN = registry.envelope(V1, subject="o-1", dataversions=(1, 2))
V1_STORED = registry.envelope(V1, subject="o-1")
V2_ONLY = registry.envelope(V2, subject="o-1")  # after the window: v2 alone


async def test_same_version_is_handled() -> None:
    assert await route(runner_for(StockCommittedV1), V1_STORED) == V1
    assert await route(runner_for(StockCommittedV2), V2_ONLY) == V2


async def test_the_twin_in_the_handlers_version_is_handled() -> None:
    assert await route(runner_for(StockCommittedV1), V1_TWIN) == V1
    assert await route(runner_for(StockCommittedV2), V2_TWIN) == V2


async def test_the_other_twin_is_ignored_without_parsing() -> None:
    v1_reader, v2_reader = runner_for(StockCommittedV1), runner_for(StockCommittedV2)
    assert await route(v1_reader, V2_TWIN) == "ignored"
    assert await route(v2_reader, V1_TWIN) == "ignored"
    # Decided on the headers: a twin whose body is not even JSON is skipped all the same.
    record = polled(V1_TWIN)
    record.value = b"not json"
    assert await v2_reader._prepare(record) == "ignored"
    assert dead_letters(v1_reader) == dead_letters(v2_reader) == []


async def test_a_stored_older_record_is_upcast() -> None:
    payload = await route(runner_for(StockCommittedV2), V1_STORED)
    assert payload == StockCommittedV2(
        order_id="o-1", lines=[CommittedLine(sku="TEA-1", quantity=2, allocations=[])]
    )


async def test_a_newer_record_without_a_twin_for_the_handler_is_dead_lettered() -> None:
    runner = runner_for(StockCommittedV1)
    assert await route(runner, V2_ONLY) == "dead-lettered"
    assert dead_letters(runner) == ["inventory.events.dlq"]


async def test_a_malformed_dataversions_header_is_dead_lettered() -> None:
    runner = runner_for(StockCommittedV1)
    record = polled(V1_TWIN)
    record.headers = [(k, b"1,x" if k == "ce_dataversions" else v) for k, v in record.headers]
    assert await runner._prepare(record) == "dead-lettered"
    assert dead_letters(runner) == ["inventory.events.dlq"]


async def test_an_unhandled_type_is_ignored_whatever_its_versions() -> None:
    assert await route(runner_for(ProductUnpublishedV1), V2_TWIN) == "ignored"


def three_versions() -> tuple[EventRegistry, list[type[EventPayload]]]:
    reg = EventRegistry()

    @reg.event("demo.thing.done", 1, key="id")
    class DoneV1(EventPayload):
        a: int

    @reg.event("demo.thing.done", 2, key="id")
    class DoneV2(EventPayload):
        a: int
        b: int

    @reg.event("demo.thing.done", 3, key="id")
    class DoneV3(EventPayload):
        a: int
        b: int
        c: int

    reg.upcaster("demo.thing.done", 1)(lambda data: {**data, "b": 0})
    reg.upcaster("demo.thing.done", 2)(lambda data: {**data, "c": 0})
    return reg, [DoneV1, DoneV2, DoneV3]


async def outcomes(
    reg: EventRegistry, model: type[EventPayload], twins: list[EventPayload]
) -> list[str]:
    """What a handler of `model` does with each record of one event published as `twins`."""
    versions = tuple(sorted(type(t).event_version for t in twins))
    runner = runner_for(model, reg)
    found = []
    for twin in twins:
        result = await route(runner, reg.envelope(twin, subject="t", dataversions=versions))
        found.append(result if isinstance(result, str) else f"v{result.event_version}")
    return found


async def test_a_handler_newer_than_every_twin_upcasts_the_newest_one_only() -> None:
    reg, (v1, v2, v3) = three_versions()
    assert await outcomes(reg, v3, [v2(a=1, b=2), v1(a=1)]) == ["v3", "ignored"]


async def test_a_handler_older_than_every_twin_dead_letters_one_record_per_event() -> None:
    reg, (v1, v2, v3) = three_versions()
    assert await outcomes(reg, v1, [v3(a=1, b=2, c=3), v2(a=1, b=2)]) == [
        "ignored",
        "dead-lettered",
    ]


async def test_between_twins_the_handler_upcasts_the_older_one() -> None:
    reg, (v1, v2, v3) = three_versions()
    assert await outcomes(reg, v2, [v3(a=1, b=2, c=3), v1(a=1)]) == ["ignored", "v2"]


@pytest.mark.parametrize(
    ("versions", "wanted", "read"),
    [((1, 2), 1, 1), ((1, 2), 2, 2), ((1, 2), 3, 2), ((2, 3), 1, 2), ((1, 3), 2, 1)],
)
def test_version_to_read(versions: tuple[int, ...], wanted: int, read: int) -> None:
    assert version_to_read(versions, wanted) == read


def test_one_handler_per_event_type() -> None:
    with pytest.raises(ValueError, match="one handler per event type"):
        EventConsumer(
            "both", "inventory.events", {StockCommittedV1: ignore, StockCommittedV2: ignore}
        )


def staged_envelopes(session: AsyncSession) -> list[Envelope]:
    """The records a transaction staged, as a consumer would read them."""
    return [from_kafka(record.value, record.headers) for _, record in session.info["outbox_staged"]]


def test_outbox_stages_the_payload_then_its_older_versions() -> None:
    session = AsyncSession()  # staging writes nothing until commit
    outbox = Outbox("/services/inventory")
    returned = outbox.stage(
        session, V2, subject="o-1", correlation_id="o-1", causation_id="c-9", older=[V1]
    )

    first, second = staged_envelopes(session)
    assert first == returned
    assert (first.dataversion, second.dataversion) == (2, 1)
    assert first.dataversions == second.dataversions == (1, 2)
    assert first.id != second.id
    assert {(e.subject, e.correlationid, e.causationid) for e in (first, second)} == {
        ("o-1", "o-1", "c-9")
    }
    assert registry.parse(second, 1) == V1


def test_outbox_stages_an_ordinary_event_without_dataversions() -> None:
    session = AsyncSession()
    Outbox("/services/inventory").stage(session, V1, subject="o-1")
    [only] = staged_envelopes(session)
    assert only.dataversions is None
    assert all(name != "ce_dataversions" for name, _ in session.info["outbox_staged"][0][1].headers)


def test_outbox_refuses_an_older_payload_of_another_event() -> None:
    session = AsyncSession()
    with pytest.raises(ValueError, match="cannot be published"):
        Outbox("/services/inventory").stage(
            session, V2, subject="o-1", older=[ProductUnpublishedV1(product_id="p", version=1)]
        )
    assert "outbox_staged" not in session.info  # nothing half-staged


def test_a_handler_stages_with_older_versions_under_its_events_causation() -> None:
    session = AsyncSession()
    cause = registry.envelope(ProductUnpublishedV1(product_id="p", version=1), subject="p")
    delivery: Delivery[None] = Delivery(session, cause, Outbox("/services/inventory"))
    delivery.stage(V2, subject="o-1", older=[V1])
    envelopes = staged_envelopes(session)
    assert [e.dataversion for e in envelopes] == [2, 1]
    assert {e.causationid for e in envelopes} == {str(cause.id)}
