"""A flash-sale order sent twice at once, against a real Redis: the request that took the units
and the member's allowance at the edge may reach the order service while the other copy is
still in progress. It asks again, and the answer the other copy got decides whether both go
back. The order service is played by a scripted upstream (its 409 for a key in progress)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
import redis.asyncio as aioredis
from fastapi import Response
from starlette.requests import Request

from chassis.errors import ProblemError, problem_response
from gateway_service.service import handling
from gateway_service.service.flash_sale import FlashSaleLimits
from gateway_service.service.flash_stock import FlashSaleStock
from gateway_service.service.handling import forward_order
from gateway_service.service.limits import RateCounter

pytestmark = pytest.mark.integration

SKU = "FLASH-TWICE"
BODY = json.dumps({"items": [{"sku": SKU, "quantity": 1}], "currency": "CNY"}).encode()


@dataclass
class OrderService:
    """Answers each forwarded call with the next scripted response."""

    answers: list[Response]
    calls: int = field(default=0)

    async def forward(self, name: str, *_: Any) -> Response:
        assert name == "order"
        answer = self.answers[min(self.calls, len(self.answers) - 1)]
        self.calls += 1
        return answer


def order_request(key: str) -> Request:
    headers = [(b"idempotency-key", key.encode()), (b"content-type", b"application/json")]
    scope = {"type": "http", "method": "POST", "path": "/api/v1/orders", "headers": headers}
    return Request(scope)


# The order service's problem+json answers, as the chassis writes them.
problem = partial(problem_response, order_request("key-1"))


async def units_left(stock: FlashSaleStock) -> int:
    return int(await stock.redis.get(stock.keys([SKU])[0]) or 0)


async def send(
    redis_client: aioredis.Redis, prefix: str, answers: list[Response]
) -> tuple[Response, OrderService, FlashSaleStock, FlashSaleLimits]:
    async def inventory(skus: list[str]) -> dict[str, int]:
        return {SKU: 5}

    stock = FlashSaleStock(redis_client, prefix, 30, inventory, sold_out_memory_seconds=0)
    limits = FlashSaleLimits(redis_client, prefix, {SKU: 1}, 3600)
    service = OrderService(answers)
    rates = RateCounter(redis_client)  # Redis is up: its outage is not failing
    state = SimpleNamespace(flash_sale=limits, flash_stock=stock, upstreams=service, rates=rates)
    runtime = SimpleNamespace(state=state, settings=SimpleNamespace(flash_sale_limits={SKU: 1}))
    request = order_request("key-1")
    placing = forward_order(request, runtime, "/api/v1/orders", BODY, "r-1", "127.0.0.1", "m-1")  # type: ignore[arg-type]
    return await placing, service, stock, limits


@pytest.fixture(autouse=True)
def no_waits(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(handling, "IN_DOUBT_WAITS", (0.0, 0.0, 0.0, 0.0))


async def test_the_other_copy_refused_gives_the_units_and_the_allowance_back(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    busy, refused = (
        problem(409, "x", code="idempotency-busy"),
        problem(422, "x", code="validation-error"),
    )
    response, service, stock, limits = await send(redis_client, redis_key_prefix, [busy, refused])
    assert (response.status_code, service.calls) == (422, 2)
    assert await units_left(stock) == 5
    assert await limits.claim("m-1", {SKU: 1}, "another-key")  # the allowance is free again


async def test_the_other_copy_placed_keeps_them_taken(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    busy = problem(409, "x", code="idempotency-busy")
    placed = Response(b'{"order_id": "o-1", "status": "PENDING"}', status_code=202)
    response, service, stock, limits = await send(redis_client, redis_key_prefix, [busy, placed])
    assert (response.status_code, service.calls) == (202, 2)
    assert await units_left(stock) == 4
    with pytest.raises(ProblemError, match="at most 1"):
        await limits.claim("m-1", {SKU: 1}, "another-key")


async def test_still_in_progress_after_every_wait_leaves_them_in_doubt(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    busy = problem(409, "x", code="idempotency-busy")
    response, service, stock, _ = await send(redis_client, redis_key_prefix, [busy])
    assert (response.status_code, service.calls) == (409, 1 + len(handling.IN_DOUBT_WAITS))
    assert await units_left(stock) == 4  # taken: the order may exist


async def test_an_answer_that_is_not_in_doubt_is_not_asked_again(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    refused = problem(422, "x", code="validation-error")
    response, service, stock, _ = await send(redis_client, redis_key_prefix, [refused])
    assert (response.status_code, service.calls) == (422, 1)
    assert await units_left(stock) == 5


@dataclass
class Edge:
    """The gateway's flash-sale state on the real Redis (`units` of SKU, 1 per member), placing
    orders through `forward_order` to a given order service."""

    stock: FlashSaleStock
    limits: FlashSaleLimits
    rates: RateCounter

    @classmethod
    def on(cls, redis_client: aioredis.Redis, prefix: str, units: int) -> Edge:
        async def inventory(skus: list[str]) -> dict[str, int]:
            return {SKU: units}

        stock = FlashSaleStock(redis_client, prefix, 30, inventory, sold_out_memory_seconds=0)
        limits = FlashSaleLimits(redis_client, prefix, {SKU: 1}, 3600)
        return cls(stock, limits, RateCounter(redis_client))

    async def place(self, upstream: Any, body: bytes, *, key: str, member: str) -> Response:
        state = SimpleNamespace(
            flash_sale=self.limits, flash_stock=self.stock, upstreams=upstream, rates=self.rates
        )
        runtime: Any = SimpleNamespace(
            state=state, settings=SimpleNamespace(flash_sale_limits={SKU: 1})
        )
        request = order_request(key)
        return await forward_order(
            request, runtime, "/api/v1/orders", body, "r", "127.0.0.1", member
        )


@dataclass
class Unreachable:
    """An order service the gateway could not reach: its own 503, the request never sent."""

    calls: int = field(default=0)

    async def forward(self, name: str, *_: Any) -> Response:
        self.calls += 1
        raise ProblemError(503, "order is not answering", code="unavailable")


async def test_a_retry_under_the_same_key_must_ask_for_the_same_units(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    # The first try took the units and the allowance, then got the gateway's own 503: the
    # order service never saw it. A retry under the key passes as a replay (nothing claimed
    # again), so it must be the same order: other quantities would pass the cap unclaimed.
    edge = Edge.on(redis_client, redis_key_prefix, units=500)
    with pytest.raises(ProblemError, match="not answering"):
        await edge.place(Unreachable(), BODY, key="key-503", member="m-9")
    greedy = json.dumps({"items": [{"sku": SKU, "quantity": 99}] * 50, "currency": "CNY"})
    service = OrderService([Response(b"{}", status_code=202)])
    with pytest.raises(ProblemError) as refused:
        await edge.place(service, greedy.encode(), key="key-503", member="m-9")
    assert (refused.value.status, refused.value.code) == (422, "idempotency-key-reused")
    assert service.calls == 0
    replay = await edge.place(service, BODY, key="key-503", member="m-9")
    assert (replay.status_code, service.calls) == (202, 1)  # the same order passes
    assert await units_left(edge.stock) == 499  # taken once, by the first try


async def test_a_marker_given_back_between_the_two_reads_is_written_again(
    redis_client: aioredis.Redis, redis_key_prefix: str
) -> None:
    # Request A under the key is refused and gives its claim back just as request B finds the
    # key taken: B must claim for itself, never pass on a claim nobody holds.
    edge = Edge.on(redis_client, redis_key_prefix, units=5)
    seen = edge.limits.seen_key("m-7", "key-gone")
    await redis_client.set(seen, b"[]")  # A's marker
    real_get = redis_client.get

    async def get_after_a_gave_back(key: str) -> Any:
        await redis_client.delete(seen)
        return await real_get(key)

    edge.limits.redis = SimpleNamespace(set=redis_client.set, get=get_after_a_gave_back)  # type: ignore[assignment]
    assert await edge.limits.claim("m-7", {SKU: 1}, "key-gone")  # claimed: B holds it now
    assert await redis_client.get(seen) == b'[["FLASH-TWICE",1]]'
