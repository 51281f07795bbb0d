from __future__ import annotations

import pytest

from catalog_service.domain.prices import Price
from catalog_service.domain.products import (
    TRANSITIONS,
    ProductStatus,
    changed_fields,
    next_status,
)
from chassis.rules import RuleError


@pytest.mark.parametrize(
    ("current", "action", "expected"),
    [
        (ProductStatus.DRAFT, "publish", ProductStatus.PUBLISHED),
        (ProductStatus.UNPUBLISHED, "publish", ProductStatus.PUBLISHED),
        (ProductStatus.PUBLISHED, "unpublish", ProductStatus.UNPUBLISHED),
    ],
)
def test_allowed_transitions(current: ProductStatus, action: str, expected: ProductStatus) -> None:
    assert next_status(current, action, sku_count=1) is expected


@pytest.mark.parametrize("status", list(ProductStatus))
@pytest.mark.parametrize("action", ["publish", "unpublish"])
def test_every_other_transition_is_refused(status: ProductStatus, action: str) -> None:
    if (status, action) in TRANSITIONS:
        return
    with pytest.raises(RuleError) as caught:
        next_status(status, action, sku_count=1)
    assert (caught.value.code, caught.value.status) == ("invalid-transition", 409)


def test_publishing_needs_a_sku() -> None:
    with pytest.raises(RuleError, match="at least one SKU"):
        next_status(ProductStatus.DRAFT, "publish", sku_count=0)


@pytest.mark.parametrize(
    ("amount", "currency", "code"),
    [
        (-1, "CNY", "invalid-price"),
        (1.5, "CNY", "invalid-price"),
        (True, "CNY", "invalid-price"),
        (100, "GBP", "unsupported-currency"),
    ],
)
def test_prices_are_whole_minor_units_in_a_supported_currency(
    amount: object, currency: str, code: str
) -> None:
    with pytest.raises(RuleError) as caught:
        Price(amount, currency)  # type: ignore[arg-type]
    assert caught.value.code == code
    assert Price(0, "EUR").amount == 0


def test_changed_fields_lists_only_differences() -> None:
    before = {"name": "a", "category": "tea", "images": []}
    assert changed_fields(before, {**before, "name": "b", "images": []}) == ["name"]
