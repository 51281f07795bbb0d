"""Catalog use cases. Each write is one transaction: the state change and its outbox rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, func, or_, select
from sqlmodel.ext.asyncio.session import AsyncSession

from catalog_service import domain
from catalog_service.schemas import (
    CategoryPublic,
    MoneyPublic,
    ProductCreate,
    ProductPage,
    ProductPatch,
    ProductPublic,
    SkuPublic,
)
from catalog_service.tables import ProductRow, SkuRow
from chassis.cache import ReadCache
from chassis.errors import Conflict, NotFound, ProblemError
from chassis.outbox import Outbox
from chassis.runtime import Runtime
from shared_events import catalog as events

DESCRIPTIVE_FIELDS = ("name", "description", "category", "attributes", "images")


def read_cache(runtime: Runtime) -> ReadCache:
    settings = runtime.settings
    ttl = getattr(settings, "cache_ttl_seconds", 60)
    return ReadCache(runtime.redis, f"{settings.redis_key_prefix}catalog", ttl_seconds=ttl)


def _public(product: ProductRow, skus: list[SkuRow]) -> ProductPublic:
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


def _snapshots(skus: list[SkuRow]) -> list[events.SkuSnapshot]:
    return [
        events.SkuSnapshot(
            sku=s.sku,
            price=events.Money(amount=s.price_amount, currency=s.currency),
            attributes=s.attributes,
        )
        for s in sorted(skus, key=lambda s: s.position)
    ]


def _details(product: ProductRow, skus: list[SkuRow]) -> dict[str, Any]:
    """The fields of `events.ProductDetails`, shared by the created and updated events."""
    return {
        "product_id": product.id,
        "name": product.name,
        "description": product.description,
        "category": product.category,
        "attributes": product.attributes,
        "images": product.images,
        "skus": _snapshots(skus),
    }


def _check_prices(prices: list[tuple[int, str]]) -> None:
    try:
        for amount, currency in prices:
            domain.Price(amount, currency)
    except domain.CatalogRuleError as error:
        raise _rule_broken(error) from None


def _rule_broken(error: domain.CatalogRuleError) -> ProblemError:
    return ProblemError(
        409 if error.code == "invalid-transition" else 422, error.detail, code=error.code
    )


async def _load(
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


async def create_product(runtime: Runtime, data: ProductCreate) -> ProductPublic:
    codes = [s.sku for s in data.skus]
    _check_prices([(s.price.amount, s.price.currency) for s in data.skus])
    if len(set(codes)) != len(codes):
        raise ProblemError(422, "SKU codes must be unique within a product", code="duplicate-sku")
    now = datetime.now(UTC)
    product = ProductRow(
        id=str(uuid.uuid4()),
        name=data.name,
        description=data.description,
        category=data.category,
        attributes=data.attributes,
        images=data.images,
        status=domain.ProductStatus.DRAFT.value,
        version=1,
        created_at=now,
        updated_at=now,
    )
    skus = [
        SkuRow(
            sku=s.sku,
            product_id=product.id,
            price_amount=s.price.amount,
            currency=s.price.currency,
            attributes=s.attributes,
            position=i,
        )
        for i, s in enumerate(data.skus)
    ]
    async with runtime.database.transaction() as session:
        taken = (await session.exec(select(SkuRow.sku).where(col(SkuRow.sku).in_(codes)))).all()
        if taken:
            raise Conflict(f"SKU already exists: {', '.join(sorted(taken))}", code="sku-exists")
        session.add(product)
        await session.flush()
        session.add_all(skus)
        runtime.outbox.stage(
            session,
            events.ProductCreatedV1(
                **_details(product, skus), status=product.status, version=product.version
            ),
            subject=product.id,
        )
    await read_cache(runtime).invalidate()
    return _public(product, skus)


def _stage_price_changes(
    outbox: Outbox,
    session: AsyncSession,
    product: ProductRow,
    skus: list[SkuRow],
    patch: ProductPatch,
) -> list[str]:
    by_code = {s.sku: s for s in skus}
    _check_prices([(c.price.amount, c.price.currency) for c in patch.prices or []])
    changed = []
    for change in patch.prices or []:
        row = by_code.get(change.sku)
        if row is None:
            raise ProblemError(
                422, f"SKU {change.sku} is not part of this product", code="unknown-sku"
            )
        old = events.Money(amount=row.price_amount, currency=row.currency)
        new = events.Money(amount=change.price.amount, currency=change.price.currency)
        if old == new:
            continue
        row.price_amount, row.currency = new.amount, new.currency
        session.add(row)
        changed.append((row.sku, old, new))
    for sku, old, new in changed:
        outbox.stage(
            session,
            events.PriceChangedV1(
                product_id=product.id,
                sku=sku,
                old_price=old,
                new_price=new,
                version=product.version + 1,
            ),
            subject=product.id,
        )
    return [sku for sku, _, _ in changed]


async def update_product(runtime: Runtime, product_id: str, patch: ProductPatch) -> ProductPublic:
    async with runtime.database.transaction() as session:
        product, skus = await _load(session, product_id, for_update=True)
        before = {name: getattr(product, name) for name in DESCRIPTIVE_FIELDS}
        after = {
            name: value
            for name, value in patch.model_dump(include=set(DESCRIPTIVE_FIELDS)).items()
            if value is not None
        }
        changed = domain.changed_fields(before, {**before, **after})
        repriced = _stage_price_changes(runtime.outbox, session, product, skus, patch)
        if not changed and not repriced:
            return _public(product, skus)
        for name in changed:
            setattr(product, name, after[name])
        product.version += 1
        product.updated_at = datetime.now(UTC)
        session.add(product)
        if changed:
            runtime.outbox.stage(
                session,
                events.ProductUpdatedV1(
                    **_details(product, skus), changed=changed, version=product.version
                ),
                subject=product.id,
            )
    await read_cache(runtime).invalidate()
    return _public(product, skus)


async def change_status(runtime: Runtime, product_id: str, action: str) -> ProductPublic:
    """`publish` or `unpublish`, following the lifecycle table in domain.py."""
    async with runtime.database.transaction() as session:
        product, skus = await _load(session, product_id, for_update=True)
        try:
            target = domain.next_status(
                domain.ProductStatus(product.status), action, sku_count=len(skus)
            )
        except domain.CatalogRuleError as error:
            raise _rule_broken(error) from None
        product.status = target.value
        product.version += 1
        product.updated_at = datetime.now(UTC)
        session.add(product)
        payload: events.ProductPublishedV1 | events.ProductUnpublishedV1
        if target is domain.ProductStatus.PUBLISHED:
            payload = events.ProductPublishedV1(
                product_id=product.id, skus=_snapshots(skus), version=product.version
            )
        else:
            payload = events.ProductUnpublishedV1(product_id=product.id, version=product.version)
        runtime.outbox.stage(session, payload, subject=product.id)
    await read_cache(runtime).invalidate()
    return _public(product, skus)


async def get_product(runtime: Runtime, product_id: str, *, published_only: bool) -> ProductPublic:
    async def load() -> bytes:
        async with runtime.database.sessions() as session:
            product, skus = await _load(session, product_id)
        return _public(product, skus).model_dump_json().encode()

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
        filters = []
        if status is not None:
            filters.append(ProductRow.status == status.value)
        if category:
            filters.append(ProductRow.category == category)
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
            items=[_public(p, by_product.get(p.id, [])) for p in products],
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
