"""What reads and writes share: loading a product with its SKUs, and its public shape."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from catalog_service.schemas import ProductPublic, SkuPublic
from catalog_service.tables import ProductRow, SkuRow
from chassis.errors import NotFound
from chassis.validation import MoneyPublic


def to_public(product: ProductRow, skus: list[SkuRow]) -> ProductPublic:
    """The public shape takes the product's columns by name (pydantic turns `status` into the
    enum and `food` into FoodPublic; the timestamps are not shown), its SKUs in listed order."""
    return ProductPublic.model_validate(
        {
            **product.model_dump(),
            "skus": [
                SkuPublic(
                    sku=sku.sku,
                    price=MoneyPublic(amount=sku.price_amount, currency=sku.currency),
                    attributes=sku.attributes,
                )
                for sku in sorted(skus, key=lambda sku: sku.position)
            ],
        }
    )


async def load_product(
    session: AsyncSession, product_id: str, *, for_update: bool = False
) -> tuple[ProductRow, list[SkuRow]]:
    query = select(ProductRow).where(ProductRow.id == product_id)
    if for_update:
        query = query.with_for_update()  # serialises writers of one product
    product = (await session.exec(query)).first()
    if product is None:
        raise NotFound(f"product {product_id} does not exist")
    skus = list((await session.exec(select(SkuRow).where(SkuRow.product_id == product_id))).all())
    return product, skus
