from __future__ import annotations

import json
from functools import partial

from fastapi import Request, Response

from chassis.errors import problem_response
from gateway_service.service.flash_sale import capped_quantities
from gateway_service.service.handling import order_refused

LIMITS = {"FLASH-1": 2, "FLASH-2": 1}


def order(*items: object) -> bytes:
    return json.dumps({"items": list(items), "currency": "CNY"}).encode()


def test_only_flash_sale_skus_count_and_repeated_lines_add_up() -> None:
    body = order(
        {"sku": "FLASH-1", "quantity": 1},
        {"sku": "TEA-1", "quantity": 5},
        {"sku": "FLASH-1", "quantity": 2},
    )
    assert capped_quantities(body, LIMITS) == {"FLASH-1": 3}


def test_a_sku_is_read_as_the_order_service_reads_it_trimmed() -> None:
    body = order({"sku": " FLASH-1\u00a0", "quantity": 2}, {"sku": "\tFLASH-2 ", "quantity": 1})
    assert capped_quantities(body, LIMITS) == {"FLASH-1": 2, "FLASH-2": 1}


def test_a_body_nested_thousands_deep_is_not_an_order() -> None:
    assert capped_quantities(b"[" * 100_000, LIMITS) == {}
    assert capped_quantities(b'{"items": ' + b"[" * 100_000, LIMITS) == {}


def test_no_limits_configured_reads_nothing() -> None:
    assert capped_quantities(order({"sku": "FLASH-1", "quantity": 1}), {}) == {}


def test_bodies_that_are_not_orders_pass_to_the_service_untouched() -> None:
    for body in (b"not json", b"[1, 2]", b'{"items": "FLASH-1"}', order("FLASH-1")):
        assert capped_quantities(body, LIMITS) == {}
    # A quantity the order service will refuse (0, negative, text) claims nothing here.
    odd = order(
        {"sku": "FLASH-1", "quantity": 0},
        {"sku": "FLASH-1", "quantity": -3},
        {"sku": "FLASH-2", "quantity": "1"},
    )
    assert capped_quantities(odd, LIMITS) == {}


# The order service's problem+json answers, as the chassis writes them.
ORDER_POST = Request({"type": "http", "method": "POST", "path": "/api/v1/orders", "headers": []})
problem = partial(problem_response, ORDER_POST)


def test_a_409_for_a_key_in_progress_is_not_a_refusal_of_the_order() -> None:
    """The same order sent twice at once: the request that claimed the units at the edge may
    reach the order service second and be told its key is in progress while the other places
    the order. That 409 leaves the order in doubt, like a timeout: nothing is given back."""
    assert not order_refused(problem(409, "x", code="idempotency-busy"))
    assert not order_refused(problem(409, "x", code="idempotency-retry"))
    assert not order_refused(Response(b'{"order_id": "o-1"}', status_code=202))
    assert not order_refused(problem(503, "x", code="upstream-unavailable"))  # in doubt too
    # The service refused the order: its units and the member's allowance go back.
    assert order_refused(problem(422, "x", code="validation-error"))
    assert order_refused(problem(422, "x", code="idempotency-key-reused"))
    assert order_refused(problem(409, "x", code="conflict"))
    assert order_refused(Response(b"not json", status_code=409))
