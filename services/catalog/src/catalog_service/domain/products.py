"""The product lifecycle and what a change to a product changed. No I/O here."""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from chassis.rules import RuleError


class ProductStatus(StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    UNPUBLISHED = "UNPUBLISHED"


# The product lifecycle as a table: (from, action) -> to.
TRANSITIONS: dict[tuple[ProductStatus, str], ProductStatus] = {
    (ProductStatus.DRAFT, "publish"): ProductStatus.PUBLISHED,
    (ProductStatus.UNPUBLISHED, "publish"): ProductStatus.PUBLISHED,
    (ProductStatus.PUBLISHED, "unpublish"): ProductStatus.UNPUBLISHED,
}


def next_status(current: ProductStatus, action: str, *, sku_count: int) -> ProductStatus:
    target = TRANSITIONS.get((current, action))
    if target is None:
        raise RuleError(
            "invalid-transition", f"cannot {action} a product that is {current.value}", status=409
        )
    if target is ProductStatus.PUBLISHED and sku_count == 0:
        raise RuleError("no-skus", "a product needs at least one SKU to be published")
    return target


def changed_fields(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """Names of the fields whose value differs, in a stable order."""
    return sorted(name for name, value in after.items() if before.get(name) != value)


def check_distinct_skus(codes: Sequence[str]) -> None:
    """A request names each SKU of a product once: two SKUs of one code at creation, or two
    prices for one SKU in a change (one of them would be published but never stored)."""
    if len(set(codes)) != len(codes):
        raise RuleError("duplicate-sku", "SKU codes must be unique within a product")
