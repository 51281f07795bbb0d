"""What reads and writes share: the read cache, loading a product, its public shape."""

from __future__ import annotations

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from catalog_service import domain
from catalog_service.schemas import (
    MoneyPublic,
    ProductPublic,
    SkuPublic,
)
from catalog_service.tables import ProductRow, SkuRow
from chassis.cache import ReadCache
from chassis.errors import NotFound
from chassis.runtime import Runtime


def read_cache(runtime: Runtime) -> ReadCache:
    settings = runtime.settings
    ttl = getattr(settings, "cache_ttl_seconds", 60)
    return ReadCache(runtime.redis, f"{settings.redis_key_prefix}catalog", ttl_seconds=ttl)


def public(product: ProductRow, skus: list[SkuRow]) -> ProductPublic:
    return ProductPublic(
        id=product.id,
        name=product.name,
        description=product.description,
        category=product.category,
        attributes=product.attributes,
        images=product.images,
        status=domain.ProductStatus(product.status),
        version=product.version,
        skus=[
            SkuPublic(
                sku=s.sku,
                price=MoneyPublic(amount=s.price_amount, currency=s.currency),
                attributes=s.attributes,
            )
            for s in sorted(skus, key=lambda s: s.position)
        ],
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
