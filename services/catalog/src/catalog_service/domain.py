"""Catalog rules: product lifecycle and prices. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

SUPPORTED_CURRENCIES = frozenset({"CNY", "USD", "EUR"})


class ProductStatus(StrEnum):
    DRAFT = "DRAFT"
    PUBLISHED = "PUBLISHED"
    UNPUBLISHED = "UNPUBLISHED"


class CatalogRuleError(Exception):
    """A request that breaks a catalog rule; `code` is stable for clients."""

    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


# The product lifecycle as a table: (from, action) -> to.
TRANSITIONS: dict[tuple[ProductStatus, str], ProductStatus] = {
    (ProductStatus.DRAFT, "publish"): ProductStatus.PUBLISHED,
    (ProductStatus.UNPUBLISHED, "publish"): ProductStatus.PUBLISHED,
    (ProductStatus.PUBLISHED, "unpublish"): ProductStatus.UNPUBLISHED,
}


def next_status(current: ProductStatus, action: str, *, sku_count: int) -> ProductStatus:
    target = TRANSITIONS.get((current, action))
    if target is None:
        raise CatalogRuleError(
            "invalid-transition", f"cannot {action} a product that is {current.value}"
        )
    if target is ProductStatus.PUBLISHED and sku_count == 0:
        raise CatalogRuleError("no-skus", "a product needs at least one SKU to be published")
    return target


@dataclass(frozen=True, slots=True)
class Price:
    amount: int  # minor units: fen, cents
    currency: str

    def __post_init__(self) -> None:
        if isinstance(self.amount, bool) or not isinstance(self.amount, int):
            raise CatalogRuleError("invalid-price", "amount must be an integer of minor units")
        if self.amount < 0:
            raise CatalogRuleError("invalid-price", "amount must not be negative")
        if self.currency not in SUPPORTED_CURRENCIES:
            raise CatalogRuleError(
                "unsupported-currency",
                f"currency must be one of {', '.join(sorted(SUPPORTED_CURRENCIES))}",
            )


def changed_fields(before: dict[str, object], after: dict[str, object]) -> list[str]:
    """Names of the fields whose value differs, in a stable order."""
    return sorted(name for name, value in after.items() if before.get(name) != value)
