"""What the catalog API accepts (XCreate, XPatch: unknown fields forbidden) and returns."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, Field, StrictInt

from catalog_service.domain import food
from catalog_service.domain.products import ProductStatus
from chassis.validation import MoneyIn, MoneyPublic, MultilineText, RequestModel, SkuCode, Text

Category = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9-]{0,99}$")]
# Keys are stored in jsonb too: the same rules as values, and a length.
AttributeName = Annotated[Text, Field(max_length=100)]


def _distinct_names(value: Any) -> Any:
    """Names are trimmed like every text: two that differ only by surrounding spaces would
    become one, silently keeping the last value."""
    if isinstance(value, dict):
        seen: set[str] = set()
        for name in value:
            trimmed = name.strip() if isinstance(name, str) else name
            if trimmed in seen:
                raise ValueError(f"attribute {trimmed!r} is named twice")
            seen.add(trimmed)
    return value


AttributeMap = Annotated[
    dict[AttributeName, Annotated[Text, Field(max_length=200)]],
    Field(max_length=50),
    BeforeValidator(_distinct_names),
]
ImageList = Annotated[list[Annotated[Text, Field(max_length=500)]], Field(max_length=20)]
Name = Annotated[Text, Field(min_length=1, max_length=200)]
Description = Annotated[MultilineText, Field(max_length=5000)]


CountryCode = Annotated[
    str,
    Field(pattern=r"^[A-Z]{2}$", description="ISO 3166-1 alpha-2, upper case: CN, JP, FR"),
    AfterValidator(food.country_code),
]
Ingredient = Annotated[Text, Field(min_length=1, max_length=200)]


class OriginIn(RequestModel):
    country: CountryCode
    region: Annotated[Text, Field(min_length=1, max_length=100)] | None = None
    producer: Annotated[Text, Field(min_length=1, max_length=200)]


class FoodIn(RequestModel):
    """The food attributes of a product in a food category (CATALOG_FOOD_CATEGORIES)."""

    shelf_life_days: StrictInt = Field(ge=1, le=food.MAX_SHELF_LIFE_DAYS)
    storage_class: food.StorageClass
    allergens: Annotated[
        list[food.Allergen], Field(max_length=len(food.ALLERGENS)), AfterValidator(food.distinct)
    ] = Field(default_factory=list)
    ingredients: Annotated[list[Ingredient], Field(max_length=food.MAX_INGREDIENTS)] = Field(
        default_factory=list
    )
    certifications: Annotated[
        list[food.Certification],
        Field(max_length=len(food.CERTIFICATIONS)),
        AfterValidator(food.distinct),
    ] = Field(default_factory=list)
    origin: OriginIn | None = None


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
    food: FoodIn | None = None


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
    # Replaces the whole food object; an explicit null removes it (a move to a non-food
    # category), while leaving it out keeps it.
    food: FoodIn | None = None


class SkuPublic(BaseModel):
    sku: str
    price: MoneyPublic
    attributes: dict[str, str]
    # Filled from inventory once the gateway composes it; the catalog does not own stock.
    available: int | None = None


class OriginPublic(BaseModel):
    country: str
    region: str | None = None
    producer: str


class FoodPublic(BaseModel):
    shelf_life_days: int
    storage_class: str
    allergens: list[str]
    ingredients: list[str]
    certifications: list[str]
    origin: OriginPublic | None = None


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
    # The food attributes of a product in a food category; null for any other product.
    food: FoodPublic | None = None


class CategoryPublic(BaseModel):
    category: str
    products: int
