"""The order service's own tables on both databases it runs on: PostgreSQL, and SQLite (the
`make run` default)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from chassis.testing.infra import DatabaseFactory


@pytest.fixture(params=["postgresql", "sqlite"])
async def database_url(
    request: pytest.FixtureRequest, create_database: DatabaseFactory, tmp_path: Path
) -> str:
    if request.param == "postgresql":
        return await create_database("order")
    return f"sqlite+aiosqlite:///{tmp_path / 'order.db'}"


def order_row(status: str, saga_step: str, reason: str | None = None) -> dict[str, object]:
    """A row of `orders` for order o-1 of member m-1 (100 CNY), in the given state."""
    now = datetime.now(UTC)
    return {
        "id": "o-1",
        "member_id": "m-1",
        "status": status,
        "saga_step": saga_step,
        "reason": reason,
        "currency": "CNY",
        "subtotal": 100,
        "discount": 0,
        "tier_discount": 0,
        "coupon_discount": 0,
        "points": 0,
        "points_discount": 0,
        "total": 100,
        "shipping_address": {},
        "created_at": now,
        "updated_at": now,
    }
