"""Read models: catalog prices (newest product version wins), member tiers and coupons."""

from __future__ import annotations

import sqlalchemy as sa
from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import as_utc, insert_ignore
from chassis.rules import RuleError
from order_service.domain.pricing import Benefits, CatalogPrice, Coupon
from order_service.tables import (
    COUPONS,
    MEMBER_TIERS,
    PRODUCT_PRICES,
    CouponRow,
    MemberTierRow,
    ProductPriceRow,
)
from shared_events import catalog as events
from shared_events import membership


async def _rows(session: AsyncSession, product_id: str) -> list[ProductPriceRow]:
    query = select(ProductPriceRow).where(ProductPriceRow.product_id == product_id)
    return list((await session.exec(query)).all())


async def upsert_product(
    session: AsyncSession, payload: events.ProductCreatedV1 | events.ProductUpdatedV1
) -> None:
    existing = {row.sku: row for row in await _rows(session, payload.product_id)}
    published = (
        payload.status == "PUBLISHED" if isinstance(payload, events.ProductCreatedV1) else None
    )
    for sku in payload.skus:
        row = existing.get(sku.sku)
        if row is not None and row.product_version > payload.version:
            continue  # an older event than what we have: ignore
        row = row or ProductPriceRow(
            sku=sku.sku, product_id=payload.product_id, name=payload.name, amount=0, currency=""
        )
        row.name = payload.name
        row.amount, row.currency = sku.price.amount, sku.price.currency
        row.product_version = payload.version
        if published is not None:
            row.published = published
        session.add(row)


async def set_published(
    session: AsyncSession, payload: events.ProductPublishedV1 | events.ProductUnpublishedV1
) -> None:
    published = isinstance(payload, events.ProductPublishedV1)
    for row in await _rows(session, payload.product_id):
        if row.product_version > payload.version:
            continue
        row.published = published
        row.product_version = payload.version
        session.add(row)


async def change_price(session: AsyncSession, payload: events.PriceChangedV1) -> None:
    row = await session.get(ProductPriceRow, payload.sku)
    if row is None or row.product_version > payload.version:
        return
    row.amount, row.currency = payload.new_price.amount, payload.new_price.currency
    row.product_version = payload.version
    session.add(row)


_PRICES = sa.select(
    PRODUCT_PRICES.c.sku,
    PRODUCT_PRICES.c.product_id,
    PRODUCT_PRICES.c.name,
    PRODUCT_PRICES.c.amount,
    PRODUCT_PRICES.c.currency,
    PRODUCT_PRICES.c.published,
)


async def prices_for(session: AsyncSession, skus: list[str]) -> dict[str, CatalogPrice]:
    """Columns, not ORM objects: read on every cart change."""
    connection = await session.connection()
    rows = await connection.execute(_PRICES.where(PRODUCT_PRICES.c.sku.in_(skus)))
    return {row.sku: CatalogPrice(*row) for row in rows}


# Placing an order reads its SKUs' prices and the member's tier discount in one round trip:
# the discount rides on every price row (an order with no known SKU is refused anyway).
_PRICES_AND_TIER = _PRICES.add_columns(
    sa.select(MEMBER_TIERS.c.discount_percent)
    .where(MEMBER_TIERS.c.member_id == sa.bindparam("member_id"))
    .scalar_subquery()
    .label("tier_discount_percent")
).where(PRODUCT_PRICES.c.sku.in_(sa.bindparam("skus", expanding=True)))


async def prices_and_tier(
    session: AsyncSession, skus: list[str], member_id: str
) -> tuple[dict[str, CatalogPrice], int]:
    """The SKUs' prices and the member's tier discount in percent (0 without a tier)."""
    connection = await session.connection()
    rows = (
        await connection.execute(_PRICES_AND_TIER, {"skus": skus, "member_id": member_id})
    ).all()
    prices = {row.sku: CatalogPrice(*row[:-1]) for row in rows}
    return prices, (rows[0].tier_discount_percent or 0) if rows else 0


async def set_tier(session: AsyncSession, payload: membership.TierChangedV1) -> None:
    row = await session.get(MemberTierRow, payload.member_id)
    row = row or MemberTierRow(member_id=payload.member_id, tier=payload.new_tier)
    row.tier, row.discount_percent = payload.new_tier, payload.discount_percent
    session.add(row)


async def add_coupon(session: AsyncSession, payload: membership.CouponIssuedV1) -> None:
    await insert_ignore(
        session,
        CouponRow,
        {
            "code": payload.coupon_code,
            "member_id": payload.member_id,
            "amount_off": payload.amount_off.amount,
            "min_spend": payload.min_spend.amount,
            "currency": payload.amount_off.currency,
            "valid_from": payload.valid_from,
            "valid_until": payload.valid_until,
        },
    )


_COUPON = sa.select(
    COUPONS.c.code,
    COUPONS.c.member_id,
    COUPONS.c.amount_off,
    COUPONS.c.min_spend,
    COUPONS.c.currency,
    COUPONS.c.valid_from,
    COUPONS.c.valid_until,
)


async def benefits_for(
    session: AsyncSession,
    coupon_code: str | None,
    points: int,
    *,
    tier_discount_percent: int,
) -> Benefits:
    """The order's benefits: the tier's discount (read with the prices), the coupon (read
    here, as columns) and the points asked for."""
    connection = await session.connection()
    coupon = None
    if coupon_code:
        row = (await connection.execute(_COUPON.where(COUPONS.c.code == coupon_code))).first()
        if row is None:
            # Worded as for a coupon of another member: the answer must not tell which codes exist.
            raise RuleError("coupon-invalid", f"coupon {coupon_code} cannot be used")
        coupon = Coupon(
            row.code,
            row.member_id,
            row.amount_off,
            row.min_spend,
            row.currency,
            as_utc(row.valid_from),
            as_utc(row.valid_until),
        )
    return Benefits(tier_discount_percent=tier_discount_percent, coupon=coupon, points=points)
