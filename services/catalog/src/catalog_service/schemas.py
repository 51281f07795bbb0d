"""What the catalog API accepts (XCreate, XPatch: unknown fields forbidden) and returns."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, Field

from catalog_service.domain.products import ProductStatus
from chassis.validation import MoneyIn, MoneyPublic, MultilineText, RequestModel, SkuCode, Text

Category = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]
# Keys are stored in jsonb too: the same rules as values, and a length.
AttributeName = Annotated[Text, Field(max_length=100)]
AttributeMap = Annotated[
    dict[AttributeName, Annotated[Text, Field(max_length=200)]], Field(max_length=50)
]
ImageList = Annotated[list[Annotated[Text, Field(max_length=500)]], Field(max_length=20)]
Name = Annotated[Text, Field(min_length=1, max_length=200)]
Description = Annotated[MultilineText, Field(max_length=5000)]


class SkuCreate(RequestModel):
    sku: SkuCode
    price: MoneyIn
    attributes: AttributeMap = Field(default_factory=dict)


class ProductCreate(RequestModel):
    name: Name
    description: Description = ""
    category: Category
    attributes: AttributeMap = Field(default_factory=dict)
    images: ImageList = Field(default_factory=list)
    skus: list[SkuCreate] = Field(min_length=1, max_length=100)


class SkuPriceChange(RequestModel):
    sku: SkuCode
    price: MoneyIn


class ProductPatch(RequestModel):
    name: Name | None = None
    description: Description | None = None
    category: Category | None = None
    attributes: AttributeMap | None = None
    images: ImageList | None = None
    prices: list[SkuPriceChange] | None = Field(default=None, max_length=100)


class SkuPublic(BaseModel):
    sku: str
    price: MoneyPublic
    attributes: dict[str, str]
    # Filled from inventory once the gateway composes it; the catalog does not own stock.
    available: int | None = None


class ProductPublic(BaseModel):
    id: str
    name: str
    description: str
    category: str
    attributes: dict[str, str]
    images: list[str]
    status: ProductStatus
    version: int
    skus: list[SkuPublic]


class CategoryPublic(BaseModel):
    category: str
    products: int
