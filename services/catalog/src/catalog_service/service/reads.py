"""Catalog reads: the storefront's cached, published view and the admin's full one."""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime

from sqlalchemy import ColumnElement
from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from catalog_service.deps import CatalogRuntime
from catalog_service.domain.products import ProductStatus
from catalog_service.schemas import CategoryPublic, ProductPublic
from catalog_service.service.product_rows import load_product, to_public
from catalog_service.tables import ProductRow, SkuRow
from chassis.auth import Principal
from chassis.errors import NotFound
from chassis.pagination import Page, paginate
from shared_events.catalog import ProductViewedV1


async def get_product(
    runtime: CatalogRuntime, product_id: str, *, published_only: bool
) -> ProductPublic:
    async def load() -> bytes:
        async with runtime.database.snapshot() as session:
            product, skus = await load_product(session, product_id)
        return to_public(product, skus).model_dump_json().encode()

    if not published_only:
        result = ProductPublic.model_validate_json(await load())
    else:
        result = ProductPublic.model_validate_json(
            await runtime.state.cache.get_or_load(f"product:{product_id}", load)
        )
    if published_only and result.status is not ProductStatus.PUBLISHED:
        raise NotFound(f"product {product_id} does not exist")
    return result


async def view_product(
    runtime: CatalogRuntime, product_id: str, *, viewer: Principal | None, sku: str | None
) -> ProductPublic:
    """The storefront's read of one published product, and the view as an analytics fact:
    queued in memory for the beacon (at most once, no write on this path; a view of a product
    that is not for sale is not one)."""
    product = await get_product(runtime, product_id, published_only=True)
    skus = [line.sku for line in product.skus]
    runtime.state.beacon.emit(
        ProductViewedV1(
            product_id=product.id,
            skus=skus,
            sku=sku if sku in skus else None,
            member_id=viewer.subject if viewer is not None else None,
            viewed_at=datetime.now(UTC),
        ),
        subject=product.id,
    )
    return product


async def list_products(
    runtime: CatalogRuntime,
    *,
    q: str | None,
    category: str | None,
    page: int,
    size: int,
    status: ProductStatus | None,
) -> Page[ProductPublic]:
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
        query = (
            select(ProductRow)
            .where(*filters)
            .order_by(col(ProductRow.created_at).desc(), col(ProductRow.id))
        )
        async with runtime.database.snapshot() as session:
            found = await paginate(
                session,
                query,
                page=page,
                size=size,
                shape=lambda products: _with_skus(session, products),
            )
        return found.model_dump_json().encode()

    key = list_key(status, category, q, page, size)
    cached = await runtime.state.cache.get_or_load(key, load)
    return Page[ProductPublic].model_validate_json(cached)


def list_key(
    status: ProductStatus | None, category: str | None, q: str | None, page: int, size: int
) -> str:
    """The cache key of a listing: one key per distinct query and never one for two. JSON keeps
    a filter's text apart from "no filter" (`?category=None`) and from its neighbours (a `:`
    inside `q`); an empty filter is no filter, as `load` reads it."""
    query = [status.value if status else None, category or None, q or None, page, size]
    return "list:" + json.dumps(query, ensure_ascii=False, separators=(",", ":"))


async def _with_skus(session: AsyncSession, products: Sequence[ProductRow]) -> list[ProductPublic]:
    """The page's products in their public shape, their SKUs read in one query."""
    ids = [p.id for p in products]
    skus = (await session.exec(select(SkuRow).where(col(SkuRow.product_id).in_(ids)))).all()
    by_product: dict[str, list[SkuRow]] = {}
    for sku in skus:
        by_product.setdefault(sku.product_id, []).append(sku)
    return [to_public(p, by_product.get(p.id, [])) for p in products]


async def list_categories(runtime: CatalogRuntime) -> list[CategoryPublic]:
    async with runtime.database.reads() as session:
        rows = (
            await session.exec(
                select(ProductRow.category, func.count())
                .where(ProductRow.status == ProductStatus.PUBLISHED.value)
                .group_by(ProductRow.category)
                .order_by(ProductRow.category)
            )
        ).all()
    return [CategoryPublic(category=c, products=int(n)) for c, n in rows]


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
