"""Catalog writes. Each is one transaction: the state change and its outbox rows."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from catalog_service.deps import CatalogRuntime
from catalog_service.domain.food import check_food_fits_category
from catalog_service.domain.prices import Price
from catalog_service.domain.products import (
    ProductStatus,
    changed_fields,
    check_distinct_skus,
    next_status,
)
from catalog_service.schemas import ProductCreate, ProductPatch, ProductPublic
from catalog_service.service.product_rows import load_product, to_public
from catalog_service.tables import ProductRow, SkuRow
from chassis.errors import Conflict, ProblemError
from chassis.outbox import Outbox
from shared_events import catalog as events

DESCRIPTIVE_FIELDS = ("name", "description", "category", "attributes", "images", "food")


def _snapshots(skus: list[SkuRow]) -> list[events.SkuSnapshot]:
    return [
        events.SkuSnapshot(
            sku=sku.sku,
            price=events.Money(amount=sku.price_amount, currency=sku.currency),
            attributes=sku.attributes,
        )
        for sku in sorted(skus, key=lambda sku: sku.position)
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
        "food": product.food,
    }


def _check_prices(prices: list[tuple[int, str]]) -> None:
    for amount, currency in prices:
        Price(amount, currency)  # raises RuleError, answered as a 422 problem


async def create_product(runtime: CatalogRuntime, data: ProductCreate) -> ProductPublic:
    codes = [s.sku for s in data.skus]
    _check_prices([(s.price.amount, s.price.currency) for s in data.skus])
    check_food_fits_category(
        data.category,
        has_food=data.food is not None,
        food_categories=runtime.settings.food_categories,
    )
    check_distinct_skus(codes)
    now = datetime.now(UTC)
    product = ProductRow(
        id=str(uuid.uuid4()),
        name=data.name,
        description=data.description,
        category=data.category,
        attributes=data.attributes,
        images=data.images,
        food=data.food.model_dump() if data.food is not None else None,
        status=ProductStatus.DRAFT.value,
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
    await runtime.state.cache.invalidate()
    return to_public(product, skus)


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


async def update_product(
    runtime: CatalogRuntime, product_id: str, patch: ProductPatch
) -> ProductPublic:
    check_distinct_skus([change.sku for change in patch.prices or []])
    async with runtime.database.transaction() as session:
        product, skus = await load_product(session, product_id, for_update=True)
        before = {name: getattr(product, name) for name in DESCRIPTIVE_FIELDS}
        after = {
            name: value
            for name, value in patch.model_dump(include=set(DESCRIPTIVE_FIELDS)).items()
            if value is not None
        }
        if "food" in patch.model_fields_set:  # null too: it removes the food attributes
            after["food"] = patch.food.model_dump() if patch.food is not None else None
        if "category" in after or "food" in after:
            # Checked when either changes, so a product created before food attributes
            # existed can still be renamed or repriced without them.
            check_food_fits_category(
                after.get("category", product.category),
                has_food=after.get("food", product.food) is not None,
                food_categories=runtime.settings.food_categories,
            )
        changed = changed_fields(before, {**before, **after})
        repriced = _stage_price_changes(runtime.outbox, session, product, skus, patch)
        if not changed and not repriced:
            return to_public(product, skus)
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
    await runtime.state.cache.invalidate()
    return to_public(product, skus)


async def change_status(runtime: CatalogRuntime, product_id: str, action: str) -> ProductPublic:
    """`publish` or `unpublish`, following the lifecycle table in domain/products.py."""
    async with runtime.database.transaction() as session:
        product, skus = await load_product(session, product_id, for_update=True)
        target = next_status(ProductStatus(product.status), action, sku_count=len(skus))
        product.status = target.value
        product.version += 1
        product.updated_at = datetime.now(UTC)
        session.add(product)
        payload: events.ProductPublishedV1 | events.ProductUnpublishedV1
        if target is ProductStatus.PUBLISHED:
            payload = events.ProductPublishedV1(
                product_id=product.id, skus=_snapshots(skus), version=product.version
            )
        else:
            payload = events.ProductUnpublishedV1(product_id=product.id, version=product.version)
        runtime.outbox.stage(session, payload, subject=product.id)
    await runtime.state.cache.invalidate()
    return to_public(product, skus)
