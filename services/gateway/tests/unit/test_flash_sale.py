from __future__ import annotations

import json

from gateway_service.service.flash_sale import capped_quantities

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
