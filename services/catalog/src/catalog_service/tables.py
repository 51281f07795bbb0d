"""Catalog tables. Never returned by the API, never published: see schemas.py for those."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel

from chassis.columns import big_integer, utc_timestamp


class ProductRow(SQLModel, table=True):
    __tablename__ = "products"

    id: str = Field(primary_key=True, max_length=36)
    name: str = Field(max_length=200)
    description: str = ""
    category: str = Field(index=True, max_length=100)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON))
    images: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON))
    # The food attributes (schemas.FoodIn, dumped) of a product in a food category, else None.
    food: dict[str, Any] | None = Field(
        default=None, sa_column=sa.Column(sa.JSON(none_as_null=True), nullable=True)
    )
    status: str = Field(index=True, max_length=20)
    version: int = 1
    created_at: datetime = utc_timestamp()
    updated_at: datetime = utc_timestamp()


class SkuRow(SQLModel, table=True):
    __tablename__ = "skus"

    sku: str = Field(primary_key=True, max_length=64)
    product_id: str = Field(foreign_key="products.id", index=True, max_length=36)
    price_amount: int = big_integer()
    currency: str = Field(max_length=3)
    attributes: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON))
    position: int = 0
