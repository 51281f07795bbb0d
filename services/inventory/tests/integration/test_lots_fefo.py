"""First expired, first out, driven by the saga's events on the real broker: orders take the
lot that expires first and spill over to the next; the committed v2 event names the lots and
their trace codes; an admin reads the lots' levels."""

from __future__ import annotations

from datetime import timedelta

import pytest

from chassis.producer import EventProducer
from chassis.testing.events import send
from shared_events import Envelope

from .conftest import (
    Inventory,
    confirmed,
    has,
    inventory_events,
    new_order_id,
    order_placed,
    sku,
    types_of,
)
from .lot_support import assert_invariants, lot_levels, lots_of, receive_lot, stock_levels, today

pytestmark = pytest.mark.integration

RESERVED, COMMITTED = "inventory.stock.reserved", "inventory.stock.committed"


def committed_v2(envelopes: list[Envelope]) -> Envelope:
    [v2] = [e for e in envelopes if e.type == COMMITTED and e.dataversion == 2]
    return v2


def allocations(v2: Envelope) -> list[tuple[str, str, int]]:
    """(sku, lot, units) of a committed v2 event, in its order."""
    return [
        (line["sku"], taken["lot"], taken["quantity"])
        for line in v2.data["lines"]
        for taken in line["allocations"]
    ]


async def test_orders_take_the_earliest_lot_first_and_spill_over_to_the_next(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    tea, day = sku("tea"), today(inventory)
    # Received out of order on purpose: the order of sale is by expiry date, undated last.
    await receive_lot(inventory, tea, "LATE", 5, day + timedelta(days=60))
    await receive_lot(inventory, tea, "NODATE", 10, None)
    await receive_lot(inventory, tea, "EARLY", 3, day + timedelta(days=10))
    await receive_lot(inventory, tea, "MID", 4, day + timedelta(days=30))
    assert [lot["lot"] for lot in await lots_of(inventory, tea)] == [
        "EARLY",
        "MID",
        "LATE",
        "NODATE",
    ]
    assert await stock_levels(inventory, tea) == (22, 0, 22)

    first, second, third = new_order_id(), new_order_id(), new_order_id()
    for order_id, units in ((first, 2), (second, 4)):
        await send(producer, order_placed(order_id, [(tea, units)]), correlation_id=order_id)
        await inventory_events(kafka_bootstrap_servers, order_id, until=has(RESERVED))
        await send(producer, confirmed(order_id), correlation_id=order_id)

    def both_versions(envelopes: list[Envelope]) -> bool:
        return types_of(envelopes).count(COMMITTED) == 2

    one = committed_v2(await inventory_events(kafka_bootstrap_servers, first, until=both_versions))
    two = committed_v2(await inventory_events(kafka_bootstrap_servers, second, until=both_versions))
    assert allocations(one) == [(tea, "EARLY", 2)]
    assert allocations(two) == [(tea, "EARLY", 1), (tea, "MID", 3)]  # spilled over
    codes = [
        taken["trace_code"]
        for event in (one, two)
        for line in event.data["lines"]
        for taken in line["allocations"]
    ]
    assert all(len(code) == 16 for code in codes) and len(set(codes)) == 3
    assert [line["quantity"] for line in two.data["lines"]] == [4]

    # The rest of MID, all of LATE, then the undated lot; held, not committed yet.
    await send(producer, order_placed(third, [(tea, 7)]), correlation_id=third)
    await inventory_events(kafka_bootstrap_servers, third, until=has(RESERVED))
    assert await lot_levels(inventory, tea) == {
        "EARLY": ("SELLABLE", 0, 0),
        "MID": ("SELLABLE", 1, 1),
        "LATE": ("SELLABLE", 5, 5),
        "NODATE": ("SELLABLE", 10, 1),
    }
    by_lot = {lot["lot"]: lot for lot in await lots_of(inventory, tea)}
    assert by_lot["NODATE"]["available"] == 9 and by_lot["EARLY"]["received"] == 3
    assert await stock_levels(inventory, tea) == (16, 7, 9)
    await assert_invariants(inventory.database, [tea])


async def test_an_order_of_two_skus_takes_each_from_its_own_earliest_lot(
    inventory: Inventory, producer: EventProducer, kafka_bootstrap_servers: str
) -> None:
    tea, snack, day = sku("tea"), sku("snack"), today(inventory)
    await receive_lot(inventory, tea, "T-LATER", 5, day + timedelta(days=9))
    await receive_lot(inventory, tea, "T-SOONER", 5, day + timedelta(days=8))
    await receive_lot(inventory, snack, "S-1", 2, day)  # sellable through its expiry date
    await receive_lot(inventory, snack, "S-2", 5, day + timedelta(days=1))
    order_id = new_order_id()
    await send(producer, order_placed(order_id, [(snack, 3), (tea, 2)]), correlation_id=order_id)
    await inventory_events(kafka_bootstrap_servers, order_id, until=has(RESERVED))
    await send(producer, confirmed(order_id), correlation_id=order_id)

    published = await inventory_events(
        kafka_bootstrap_servers, order_id, until=lambda e: types_of(e).count(COMMITTED) == 2
    )
    assert sorted(allocations(committed_v2(published))) == sorted(
        [(snack, "S-1", 2), (snack, "S-2", 1), (tea, "T-SOONER", 2)]
    )
    assert await stock_levels(inventory, snack) == (4, 0, 4)
    await assert_invariants(inventory.database, [tea, snack])
