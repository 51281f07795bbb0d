"""`POST /orders` through the gateway, in front of the real order-to-cash services (PostgreSQL,
Redis, the broker): Idempotency-Key semantics end to end, the per-member flash-sale cap,
counted across orders, given back when an order is refused, never counted twice for a replay,
and what the gateway does while its Redis is down."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable

import httpx
import pytest
import redis.asyncio as aioredis
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chassis.redis_outage import RETRY_SECONDS
from chassis.testing.infra import free_port, start_redis_server
from chassis.testing.polling import eventually
from chassis.testing.serving import serve_app

from .conftest import Suite, gateway_for, order_body

pytestmark = pytest.mark.integration
CAP = 2


@pytest.fixture
async def flash(suite: Suite) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    sku = await suite.product(price=990, stock=20)
    gateway = gateway_for(suite, flash_sale_limits={sku: CAP})
    async with serve_app(gateway) as url, httpx.AsyncClient(base_url=url, timeout=15) as edge:
        yield edge, sku


async def test_a_member_buys_at_most_the_cap_across_orders(
    suite: Suite, flash: tuple[httpx.AsyncClient, str]
) -> None:
    edge, sku = flash
    alice, bob = suite.member(), suite.member()

    too_many = await edge.post("/api/v1/orders", json=order_body(sku, CAP + 1), headers=alice)
    assert too_many.status_code == 422, too_many.text
    assert too_many.headers["content-type"] == "application/problem+json"
    assert f"at most {CAP} per member" in too_many.json()["detail"]

    first = await edge.post(
        "/api/v1/orders", json=order_body(sku, 1), headers={**alice, "Idempotency-Key": "a-1"}
    )
    assert first.status_code == 202, first.text
    suite.orders.append(first.json()["order_id"])
    # A replay of the same request is the same order, not another unit.
    replay = await edge.post(
        "/api/v1/orders", json=order_body(sku, 1), headers={**alice, "Idempotency-Key": "a-1"}
    )
    assert (replay.status_code, replay.json()["order_id"]) == (202, first.json()["order_id"])
    second = await edge.post("/api/v1/orders", json=order_body(sku, 1), headers=alice)
    assert second.status_code == 202, second.text
    suite.orders.append(second.json()["order_id"])
    third = await edge.post("/api/v1/orders", json=order_body(sku, 1), headers=alice)
    assert third.status_code == 422, third.text

    # Another member has an allowance of their own.
    other = await edge.post("/api/v1/orders", json=order_body(sku, CAP), headers=bob)
    assert other.status_code == 202, other.text
    suite.orders.append(other.json()["order_id"])
    for order_id in suite.orders:
        assert (await suite.settled(order_id))["status"] == "CONFIRMED"
    await suite.check_invariants()


async def test_an_encoded_dot_segment_does_not_walk_around_the_cap(
    suite: Suite, flash: tuple[httpx.AsyncClient, str]
) -> None:
    """Once `POST /cart/..%2Forders` reached the order service as `POST /orders`, unchecked."""
    edge, sku = flash
    dave = suite.member()
    for path in (
        "/api/v1/cart/..%2Forders",
        "/api/v1/cart/%2e%2e/orders",
        "/api/v1/cart/..%5Corders",
    ):
        bypass = await edge.post(path, json=order_body(sku, CAP + 1), headers=dave)
        assert bypass.status_code == 400, (path, bypass.text)
        assert bypass.headers["content-type"] == "application/problem+json"
    mine = await suite.http["order"].get("/api/v1/orders", headers=dave)
    assert mine.status_code == 200 and mine.json()["items"] == []
    capped = await edge.post("/api/v1/orders", json=order_body(sku, CAP + 1), headers=dave)
    assert capped.status_code == 422, capped.text


async def test_an_order_the_service_refuses_gives_the_allowance_back(
    suite: Suite, flash: tuple[httpx.AsyncClient, str]
) -> None:
    edge, sku = flash
    carol = suite.member()
    refused = order_body(sku, CAP)
    refused["currency"] = "XXX"  # not a currency the order service takes
    response = await edge.post("/api/v1/orders", json=refused, headers=carol)
    assert response.status_code == 422, response.text
    accepted = await edge.post("/api/v1/orders", json=order_body(sku, CAP), headers=carol)
    assert accepted.status_code == 202, accepted.text
    suite.orders.append(accepted.json()["order_id"])
    await suite.check_invariants()


async def test_idempotency_key_through_the_gateway(
    suite: Suite, flash: tuple[httpx.AsyncClient, str]
) -> None:
    edge, _ = flash
    sku = await suite.product(price=1200, stock=5)
    member = {**suite.member(), "Idempotency-Key": "order-once"}
    first = await edge.post("/api/v1/orders", json=order_body(sku, 2), headers=member)
    assert first.status_code == 202, first.text
    suite.orders.append(first.json()["order_id"])
    again = await edge.post("/api/v1/orders", json=order_body(sku, 2), headers=member)
    assert again.status_code == 202
    assert again.json() == first.json()
    assert again.headers["idempotent-replayed"] == "true"
    other_body = await edge.post("/api/v1/orders", json=order_body(sku, 1), headers=member)
    assert other_body.status_code == 422, other_body.text
    assert other_body.headers["content-type"] == "application/problem+json"
    assert (await suite.settled(first.json()["order_id"]))["status"] == "CONFIRMED"
    # One order, so two units left the shelf, not four.
    assert (await suite.stock(sku))["available"] == 3
    await suite.check_invariants()


async def test_a_sold_out_flash_sale_sku_is_refused_at_the_gateway(suite: Suite) -> None:
    sku = await suite.product(price=990, stock=2)
    gateway = gateway_for(suite, flash_sale_limits={sku: 1}, flash_sale_stock_refresh_seconds=5)
    async with serve_app(gateway) as url, httpx.AsyncClient(base_url=url, timeout=15) as edge:

        async def buy(token: str = "tok_visa") -> httpx.Response:
            body = order_body(sku, 1, token)
            response = await edge.post("/api/v1/orders", json=body, headers=suite.member())
            if response.status_code == 202:
                suite.orders.append(response.json()["order_id"])
            return response

        first = await buy()
        declined = await buy("tok_chargeDeclined")
        assert (first.status_code, declined.status_code) == (202, 202)
        late = await buy()
        assert late.status_code == 409, late.text  # both units are spoken for
        assert late.json()["type"].endswith("/sold-out")
        assert late.headers["content-type"] == "application/problem+json"

        # The declined order gives its unit back; the next count from inventory offers it again.
        refused = await suite.settled(declined.json()["order_id"], "inventory.stock.released")
        assert refused["status"] == "REJECTED"
        second = await eventually_accepted(buy)
        assert (await suite.settled(second.json()["order_id"]))["status"] == "CONFIRMED"
        assert (await suite.settled(first.json()["order_id"]))["status"] == "CONFIRMED"
        assert (await buy()).status_code == 409
    assert (await suite.stock(sku))["available"] == 0
    await suite.check_invariants()


async def eventually_accepted(
    buy: Callable[[], Awaitable[httpx.Response]], timeout: float = 15
) -> httpx.Response:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        response = await buy()
        if response.status_code == 202 or loop.time() > deadline:
            assert response.status_code == 202, response.text
            return response
        await asyncio.sleep(0.5)


def not_busy(response: httpx.Response) -> bool:
    """Not the order service's 409 `idempotency-busy` (another request with the same key in
    progress), which tells a client to ask again."""
    return response.status_code != 409 or not response.json()["type"].endswith("/idempotency-busy")


async def test_an_order_lost_in_a_timeout_keeps_its_unit_for_the_retry(suite: Suite) -> None:
    """A POST that times out at the gateway may still have become an order: its unit and
    allowance stay taken, and the buyer's retry under the same key gets the order."""
    sku = await suite.product(price=990, stock=1)
    flash = {"flash_sale_limits": {sku: 1}, "flash_sale_stock_refresh_seconds": 60}
    impatient = gateway_for(suite, upstream_timeout_seconds=0.001, **flash)
    patient = gateway_for(suite, **flash)
    async with (
        serve_app(impatient) as impatient_url,
        serve_app(patient) as patient_url,
        httpx.AsyncClient(base_url=impatient_url, timeout=15) as hasty,
        httpx.AsyncClient(base_url=patient_url, timeout=15) as edge,
    ):
        buyer = {**suite.member(), "Idempotency-Key": "lost-in-a-timeout"}
        lost = await hasty.post("/api/v1/orders", json=order_body(sku, 1), headers=buyer)
        assert lost.status_code == 503, lost.text
        other = await edge.post("/api/v1/orders", json=order_body(sku, 1), headers=suite.member())
        assert other.status_code == 409, other.text  # the unit waits for the unknown order
        # The lost request may still be in progress at the order service: a client told
        # `idempotency-busy` asks again (any other answer, a sold-out above all, is final).
        retried = await eventually(
            lambda: edge.post("/api/v1/orders", json=order_body(sku, 1), headers=buyer),
            not_busy,
            timeout=15,
            every=0.2,
        )
        assert retried.status_code == 202, retried.text
    suite.orders.append(retried.json()["order_id"])
    assert (await suite.settled(retried.json()["order_id"]))["status"] == "CONFIRMED"
    await suite.check_invariants()


async def test_after_a_sell_out_later_buyers_are_judged_by_the_count_and_retries_replay(
    suite: Suite,
) -> None:
    """The rush after a sell-out: a later buyer is judged by the count read in the rate
    limit's round trip, so a unit put back into the count is sold at once (not after the
    memory's moment), while a buyer's retry of an order that got through still gets its
    order and never a sold-out."""
    sku = await suite.product(price=990, stock=1)
    gateway = gateway_for(
        suite,
        flash_sale_limits={sku: 1},
        flash_sale_stock_refresh_seconds=60,
        flash_sale_sold_out_memory_seconds=30,  # a slow machine must not outlast the moment
    )
    count = f"{suite.settings['order'].redis_key_prefix}gateway:flash-stock:{sku}"
    redis = aioredis.from_url(suite.settings["order"].redis_url)
    async with serve_app(gateway) as url, httpx.AsyncClient(base_url=url, timeout=15) as edge:
        buyer = {**suite.member(), "Idempotency-Key": "rush-buyer"}
        bought = await edge.post("/api/v1/orders", json=order_body(sku, 1), headers=buyer)
        assert bought.status_code == 202, bought.text
        suite.orders.append(bought.json()["order_id"])
        late = await edge.post("/api/v1/orders", json=order_body(sku, 1), headers=suite.member())
        assert late.status_code == 409, late.text  # counted: the one unit is spoken for
        later = await edge.post("/api/v1/orders", json=order_body(sku, 1), headers=suite.member())
        assert later.status_code == 409, later.text  # the rush's path: the count is still 0
        assert later.json()["type"].endswith("/sold-out")
        retried = await edge.post("/api/v1/orders", json=order_body(sku, 1), headers=buyer)
        assert retried.status_code == 202, retried.text  # the replay, not a sold-out
        assert retried.json()["order_id"] == bought.json()["order_id"]

        await redis.incrby(count, 1)  # as if a unit came back into the count
        again = await edge.post("/api/v1/orders", json=order_body(sku, 1), headers=suite.member())
        assert again.status_code == 202, again.text  # sold at once, memory or not
        suite.orders.append(again.json()["order_id"])
        assert int(await redis.get(count)) == 0
    await redis.aclose()
    assert (await suite.settled(bought.json()["order_id"]))["status"] == "CONFIRMED"
    # The unit had not really come back: inventory, which alone decides, refuses the order.
    assert (await suite.settled(again.json()["order_id"]))["status"] == "REJECTED"
    await suite.check_invariants()


async def test_in_a_rush_late_buyers_are_refused_before_their_token_is_checked(
    suite: Suite,
) -> None:
    """Once a SKU is remembered sold out, an order for it is 409 before any signature check
    (the rush's thousands of new tokens would each cost an Ed25519 verification): a forged or
    missing token gets the same 409. A retry of an order that got through still gets its
    order, and a forged token that claims that buyer and key gets 401, never the order."""
    sku = await suite.product(price=990, stock=1)
    gateway = gateway_for(
        suite,
        flash_sale_limits={sku: 1},
        flash_sale_stock_refresh_seconds=60,
        flash_sale_sold_out_memory_seconds=30,
    )
    buyer_id = str(uuid.uuid4())
    buyer = {**suite.member(buyer_id), "Idempotency-Key": "rush-buyer"}
    stranger = Ed25519PrivateKey.generate()
    async with serve_app(gateway) as url, httpx.AsyncClient(base_url=url, timeout=15) as edge:

        async def order(headers: dict[str, str]) -> httpx.Response:
            return await edge.post("/api/v1/orders", json=order_body(sku, 1), headers=headers)

        bought = await order(buyer)
        assert bought.status_code == 202, bought.text
        suite.orders.append(bought.json()["order_id"])
        assert (await order(suite.member())).status_code == 409  # counted: now remembered

        forged = {"Authorization": f"Bearer {suite.issuer.token(key=stranger)}"}
        for late in (forged, {}, {"Authorization": "Bearer not-a-jwt"}):
            refused = await order(late)
            assert refused.status_code == 409, refused.text  # not 401: the token was not read
            assert refused.json()["type"].endswith("/sold-out")
        # A token that claims the buyer, with the buyer's key, but that the issuer never signed:
        # the lookup finds the key, the full check refuses the token.
        impostor = {
            "Authorization": f"Bearer {suite.issuer.token(buyer_id, key=stranger)}",
            "Idempotency-Key": "rush-buyer",
        }
        assert (await order(impostor)).status_code == 401
        retried = await order(buyer)
        assert retried.status_code == 202, retried.text
        assert retried.json()["order_id"] == bought.json()["order_id"]
    assert (await suite.settled(bought.json()["order_id"]))["status"] == "CONFIRMED"
    await suite.check_invariants()


async def test_one_flash_sale_order_sent_twice_at_once_takes_its_units_and_allowance_once(
    suite: Suite,
) -> None:
    """Units are taken before the allowance is claimed: when the same order (one
    Idempotency-Key) arrives twice at once, the second finds the key claimed and gives its
    units back, so the count at the edge and the member's cap see one order."""
    sku = await suite.product(price=990, stock=5)
    gateway = gateway_for(suite, flash_sale_limits={sku: 1}, flash_sale_stock_refresh_seconds=60)
    count = f"{suite.settings['order'].redis_key_prefix}gateway:flash-stock:{sku}"
    redis = aioredis.from_url(suite.settings["order"].redis_url)
    member_id = str(uuid.uuid4())
    twice = {**suite.member(member_id), "Idempotency-Key": "sent-twice"}
    async with serve_app(gateway) as url, httpx.AsyncClient(base_url=url, timeout=15) as edge:

        async def order(headers: dict[str, str]) -> httpx.Response:
            return await edge.post("/api/v1/orders", json=order_body(sku, 1), headers=headers)

        answers = await asyncio.gather(order(twice), order(twice))
        statuses = sorted(a.status_code for a in answers)
        # Both the order, or the second told it is in flight (the order service's 409).
        assert statuses in ([202, 202], [202, 409]), [a.text for a in answers]
        order_ids = {a.json()["order_id"] for a in answers if a.status_code == 202}
        assert len(order_ids) == 1
        suite.orders.extend(order_ids)
        assert int(await redis.get(count)) == 4  # one unit taken at the edge, not two
        # The member's one allowed unit is used: another order of theirs is over the cap.
        again = await order({**suite.member(member_id), "Idempotency-Key": "another"})
        assert again.status_code == 422, again.text
        assert again.json()["type"].endswith("/flash-sale-limit")
        assert int(await redis.get(count)) == 4  # and its unit went back
    await redis.aclose()
    assert (await suite.settled(order_ids.pop()))["status"] == "CONFIRMED"
    await suite.check_invariants()


async def test_with_its_redis_down_the_gateway_takes_orders_but_refuses_flash_sale_orders(
    suite: Suite,
) -> None:
    """Redis holds the rate limits' counters and the flash-sale allowances. While it is down
    the gateway stays ready (degraded) and lets orders and reads through uncounted, but refuses
    a flash-sale order with a 503 (its allowance cannot be claimed); once Redis is back the
    sale sells again and the limits count again."""
    plain = await suite.product(price=990, stock=10)
    capped = await suite.product(price=990, stock=10)
    port = free_port()
    redis_server = start_redis_server(port)
    gateway = gateway_for(
        suite,
        redis_url=f"redis://127.0.0.1:{port}/0",
        flash_sale_limits={capped: 1},
        rate_per_member_per_minute=2,
    )
    buyer = suite.member()

    try:
        async with serve_app(gateway) as url, httpx.AsyncClient(base_url=url, timeout=15) as edge:

            async def order(sku: str) -> httpx.Response:
                response = await edge.post("/api/v1/orders", json=order_body(sku), headers=buyer)
                if response.status_code == 202:
                    suite.orders.append(response.json()["order_id"])
                return response

            assert (await edge.get("/readyz")).json()["status"] == "ready"
            redis_server.terminate()
            redis_server.wait(10)
            ready = await edge.get("/readyz")
            assert (ready.status_code, ready.json()["status"]) == (200, "degraded")
            assert ready.json()["checks"]["redis"].startswith("unavailable")
            for _ in range(3):  # one more than the buyer's limit a minute: nothing is counted
                placed = await order(plain)
                assert placed.status_code == 202, placed.text
            assert (await edge.get("/api/v1/products")).status_code == 200
            flash = await order(capped)
            assert flash.status_code == 503, flash.text
            assert flash.headers["content-type"] == "application/problem+json"
            assert flash.headers["retry-after"] == "1"

            redis_server = start_redis_server(port)  # back on its port, empty
            await asyncio.sleep(RETRY_SECONDS + 0.1)  # the gateway asks Redis again
            if (left := 60 - time.time() % 60) < 10:  # the three counts in one minute's window
                await asyncio.sleep(left + 0.1)
            await eventually_accepted(lambda: order(capped))
            statuses = [(await edge.get("/api/v1/orders", headers=buyer)).status_code]
            statuses += [(await edge.get("/api/v1/orders", headers=buyer)).status_code]
            assert statuses[-1] == 429  # counted again: the third request of the minute
    finally:
        redis_server.terminate()
        redis_server.wait(10)
    assert len(suite.orders) == 4
    for order_id in suite.orders:
        assert (await suite.settled(order_id))["status"] == "CONFIRMED"
    await suite.check_invariants()
