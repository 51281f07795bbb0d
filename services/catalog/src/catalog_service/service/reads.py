"""Catalog reads: the storefront's cached, published view and the admin's full one."""

from __future__ import annotations

from sqlalchemy import ColumnElement
from sqlmodel import col, func, or_, select

from catalog_service import domain
from catalog_service.schemas import (
    CategoryPublic,
    ProductPage,
    ProductPublic,
)
from catalog_service.service.common import load_product, public, read_cache
from catalog_service.tables import ProductRow, SkuRow
from chassis.errors import NotFound
from chassis.runtime import Runtime


async def get_product(runtime: Runtime, product_id: str, *, published_only: bool) -> ProductPublic:
    async def load() -> bytes:
        async with runtime.database.sessions() as session:
            product, skus = await load_product(session, product_id)
        return public(product, skus).model_dump_json().encode()

    if not published_only:
        result = ProductPublic.model_validate_json(await load())
    else:
        result = ProductPublic.model_validate_json(
            await read_cache(runtime).get_or_load(f"product:{product_id}", load)
        )
    if published_only and result.status is not domain.ProductStatus.PUBLISHED:
        raise NotFound(f"product {product_id} does not exist")
    return result


async def list_products(
    runtime: Runtime,
    *,
    q: str | None,
    category: str | None,
    page: int,
    size: int,
    status: domain.ProductStatus | None,
) -> ProductPage:
    async def load() -> bytes:
        filters: list[ColumnElement[bool]] = []
        if status is not None:
            filters.append(col(ProductRow.status) == status.value)
        if category:
            filters.append(col(ProductRow.category) == category)
        if q:
            pattern = f"%{_escape_like(q)}%"
            filters.append(
                or_(
                    col(ProductRow.name).ilike(pattern, escape="\\"),
                    col(ProductRow.description).ilike(pattern, escape="\\"),
                )
            )
        async with runtime.database.sessions() as session:
            total = (
                await session.exec(select(func.count()).select_from(ProductRow).where(*filters))
            ).one()
            products = (
                await session.exec(
                    select(ProductRow)
                    .where(*filters)
                    .order_by(col(ProductRow.created_at).desc(), col(ProductRow.id))
                    .offset((page - 1) * size)
                    .limit(size)
                )
            ).all()
            ids = [p.id for p in products]
            skus = (await session.exec(select(SkuRow).where(col(SkuRow.product_id).in_(ids)))).all()
        by_product: dict[str, list[SkuRow]] = {}
        for sku in skus:
            by_product.setdefault(sku.product_id, []).append(sku)
        page_ = ProductPage(
            items=[public(p, by_product.get(p.id, [])) for p in products],
            total=int(total),
            page=page,
            size=size,
        )
        return page_.model_dump_json().encode()

    key = f"list:{status}:{category}:{q}:{page}:{size}"
    return ProductPage.model_validate_json(await read_cache(runtime).get_or_load(key, load))


async def list_categories(runtime: Runtime) -> list[CategoryPublic]:
    async with runtime.database.sessions() as session:
        rows = (
            await session.exec(
                select(ProductRow.category, func.count())
                .where(ProductRow.status == domain.ProductStatus.PUBLISHED.value)
                .group_by(ProductRow.category)
                .order_by(ProductRow.category)
            )
        ).all()
    return [CategoryPublic(category=c, products=int(n)) for c, n in rows]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
