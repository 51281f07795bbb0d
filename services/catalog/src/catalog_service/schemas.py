"""What the catalog API accepts (XCreate, XPatch: unknown fields forbidden) and returns."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt

from catalog_service.domain import ProductStatus

Currency = Literal["CNY", "USD", "EUR"]
SkuCode = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")]
Category = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]
AttributeMap = Annotated[dict[str, Annotated[str, Field(max_length=200)]], Field(max_length=50)]
ImageList = Annotated[list[Annotated[str, Field(max_length=500)]], Field(max_length=20)]


class Input(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class Money(Input):
    amount: StrictInt = Field(ge=0, le=10**12, description="integer minor units (fen, cents)")
    currency: Currency


class SkuCreate(Input):
    sku: SkuCode
    price: Money
    attributes: AttributeMap = Field(default_factory=dict)


class ProductCreate(Input):
    name: str = Field(min_length=1, max_length=200)
    description: str = Field(default="", max_length=5000)
    category: Category
    attributes: AttributeMap = Field(default_factory=dict)
    images: ImageList = Field(default_factory=list)
    skus: list[SkuCreate] = Field(min_length=1, max_length=100)


class SkuPriceChange(Input):
    sku: SkuCode
    price: Money


class ProductPatch(Input):
    name: str | None = Field(default=None, min_length=1, max_length=200)
    description: str | None = Field(default=None, max_length=5000)
    category: Category | None = None
    attributes: AttributeMap | None = None
    images: ImageList | None = None
    prices: list[SkuPriceChange] | None = Field(default=None, max_length=100)


class MoneyPublic(BaseModel):
    amount: int
    currency: str


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


class ProductPage(BaseModel):
    items: list[ProductPublic]
    total: int
    page: int
    size: int


class CategoryPublic(BaseModel):
    category: str
    products: int
