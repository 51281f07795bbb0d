"""Events published by the catalog service on `catalog.events` (subject: the product id)."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from shared_events.inventory import Origin, StorageClass
from shared_events.money import Money
from shared_events.registry import EventPayload, registry

__all__ = ["Money", "Origin", "StorageClass"]


class SkuSnapshot(BaseModel):
    model_config = ConfigDict(frozen=True)

    sku: str
    price: Money
    attributes: dict[str, str] = Field(default_factory=dict)


class FoodAttributes(BaseModel):
    """What a product of a food category declares. Allergens and certifications are upper-case
    codes from the catalog's closed lists (the 14 EU allergen groups: GLUTEN, PEANUTS, MILK, ...;
    ORGANIC, GREEN_FOOD, GEOGRAPHICAL_INDICATION, HALAL, ...); read them as strings, since a
    list may grow inside a version."""

    model_config = ConfigDict(frozen=True)

    shelf_life_days: int
    storage_class: StorageClass
    allergens: list[str] = Field(default_factory=list)
    ingredients: list[str] = Field(default_factory=list)
    certifications: list[str] = Field(default_factory=list)
    origin: Origin | None = None


class ProductDetails(EventPayload):
    """The descriptive part of a product, shared by `created` and `updated` (not an event)."""

    product_id: str
    name: str
    description: str = ""
    category: str
    attributes: dict[str, str] = Field(default_factory=dict)
    images: list[str] = Field(default_factory=list)
    skus: list[SkuSnapshot]
    # Present for a product of a food category, None otherwise (and in events published
    # before food attributes existed).
    food: FoodAttributes | None = None


@registry.event("catalog.product.created", 1, key="product id")
class ProductCreatedV1(ProductDetails):
    status: str
    version: int


@registry.event("catalog.product.updated", 1, key="product id")
class ProductUpdatedV1(ProductDetails):
    """The product's descriptive fields after the change, and which of them changed."""

    changed: list[str]
    version: int


@registry.event("catalog.product.published", 1, key="product id")
class ProductPublishedV1(EventPayload):
    product_id: str
    skus: list[SkuSnapshot]
    version: int


@registry.event("catalog.product.unpublished", 1, key="product id")
class ProductUnpublishedV1(EventPayload):
    product_id: str
    version: int


@registry.event("catalog.price.changed", 1, key="product id")
class PriceChangedV1(EventPayload):
    product_id: str
    sku: str
    old_price: Money
    new_price: Money
    version: int


@registry.event("catalog.product.viewed", 1, key="product id")
class ProductViewedV1(EventPayload):
    """A storefront read of one published product: an analytics fact, published at most once
    (batched from memory, dropped under pressure; never through the outbox). `skus` are the
    product's SKUs at the time of the view; `sku` the one the shopper picked, when the client
    said (`?sku=`). `member_id` is None for an anonymous view."""

    product_id: str
    skus: list[str]
    sku: str | None = None
    member_id: str | None = None
    viewed_at: datetime
