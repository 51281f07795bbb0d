"""The inventory API over HTTP: receipts, adjustments, the two views of a SKU, bad input."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from sqlmodel import select

from chassis.outbox import OutboxRecord
from chassis.testing.tokens import TestTokenIssuer
from inventory_service.domain.reservations import ReservationStatus
from inventory_service.domain.stock import MAX_UNITS
from inventory_service.tables import MOVEMENTS, STOCK

from .conftest import (
    Inventory,
    bearer,
    inventory_events,
    new_order_id,
    reserve_directly,
    sku,
    types_of,
)

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


def url(code: str, admin: bool = True) -> str:
    return f"/api/v1/{'admin/' if admin else ''}inventory/{code}"


async def put(inventory: Inventory, code: str, **body: Any) -> dict[str, Any]:
    response = await inventory.http.put(url(code), json=body, headers=inventory.admin)
    assert response.status_code in (200, 201), response.text
    stock: dict[str, Any] = response.json()
    return stock


async def adjust(inventory: Inventory, code: str, delta: int, reason: str = "count") -> Any:
    return await inventory.http.post(
        f"{url(code)}/adjustments", json={"delta": delta, "reason": reason}, headers=inventory.admin
    )


async def snapshot(inventory: Inventory, code: str) -> tuple[Any, ...]:
    """Everything a refused request must leave alone: the SKU's row, its ledger, the outbox."""
    count = select(sa.func.count())  # one column: the result is the count itself
    async with inventory.database.sessions() as session:
        columns = (STOCK.c.on_hand, STOCK.c.reserved, STOCK.c.safety_stock, STOCK.c.updated_at)
        stock = (await session.exec(select(*columns).where(STOCK.c.sku == code))).all()
        movements = (
            await session.exec(count.select_from(MOVEMENTS).where(MOVEMENTS.c.sku == code))
        ).one()
        outbox = (await session.exec(count.select_from(OutboxRecord.__table__))).one()  # type: ignore[attr-defined]
    return tuple(stock), movements, outbox


async def test_put_creates_the_record_and_each_view_shows_its_fields(inventory: Inventory) -> None:
    code = sku("tea")
    created = await inventory.http.put(url(code), json={"on_hand": 10}, headers=inventory.admin)
    assert created.status_code == 201, created.text
    body = created.json()
    assert {k: body[k] for k in ("sku", "on_hand", "reserved", "available", "safety_stock")} == {
        "sku": code,
        "on_hand": 10,
        "reserved": 0,
        "available": 10,
        "safety_stock": inventory.settings.default_safety_stock,
    }
    assert body["low"] is False

    updated = await inventory.http.put(
        url(code), json={"on_hand": 12, "safety_stock": 3}, headers=inventory.admin
    )
    assert updated.status_code == 200
    assert updated.json()["on_hand"] == 12 and updated.json()["safety_stock"] == 3

    public = await inventory.http.get(url(code, admin=False))
    assert public.status_code == 200
    assert public.json() == {"sku": code, "available": 12}
    admin = (await inventory.http.get(url(code), headers=inventory.admin)).json()
    assert admin["on_hand"] == 12 and admin["reserved"] == 0 and admin["available"] == 12

    for path, headers in ((url(code, admin=False), {}), (url(code), inventory.admin)):
        missing = await inventory.http.get(path.replace(code, sku("nothing")), headers=headers)
        assert missing.status_code == 404 and missing.headers["content-type"] == PROBLEM
        assert missing.json()["status"] == 404


async def test_adjustments_publish_adjusted_and_low_on_the_crossing_only(
    inventory: Inventory, kafka_bootstrap_servers: str
) -> None:
    code = sku("cup")
    await put(inventory, code, on_hand=10, safety_stock=5)
    responses = [await adjust(inventory, code, delta, "damaged") for delta in (-3, -3, -1, 10)]
    assert [r.status_code for r in responses] == [201] * 4
    assert [r.json()["available"] for r in responses] == [7, 4, 3, 13]
    assert [r.json()["low"] for r in responses] == [False, True, True, False]

    published = await inventory_events(kafka_bootstrap_servers, code, until=lambda e: len(e) >= 6)
    assert types_of(published) == [
        "inventory.stock.adjusted",  # the receipt
        "inventory.stock.adjusted",
        "inventory.stock.adjusted",
        "inventory.stock.low",  # 7 -> 4 crosses 5; 4 -> 3 does not signal again
        "inventory.stock.adjusted",
        "inventory.stock.adjusted",
    ]
    assert published[0].data == {
        "sku": code,
        "delta": 10,
        "on_hand": 10,
        "reserved": 0,
        "available": 10,
        "reason": "RECEIVE",
    }
    assert published[1].data["delta"] == -3 and published[1].data["reason"] == "damaged"
    assert published[3].data == {"sku": code, "available": 4, "safety_stock": 5}
    assert all(e.subject == code and e.source == "/services/inventory" for e in published)

    async with inventory.database.sessions() as session:
        ledger = (
            await session.exec(
                select(MOVEMENTS.c.kind, MOVEMENTS.c.delta_on_hand, MOVEMENTS.c.delta_reserved)
                .where(MOVEMENTS.c.sku == code)
                .order_by(MOVEMENTS.c.id)
            )
        ).all()
    assert [tuple(row) for row in ledger] == [
        ("RECEIVE", 10, 0),
        ("ADJUST", -3, 0),
        ("ADJUST", -3, 0),
        ("ADJUST", -1, 0),
        ("ADJUST", 10, 0),
    ]


async def test_on_hand_never_goes_below_what_is_reserved(inventory: Inventory) -> None:
    code = sku("bowl")
    await put(inventory, code, on_hand=5)
    assert (
        await reserve_directly(inventory.database, new_order_id(), [(code, 3)])
        is ReservationStatus.RESERVED
    )
    before = await snapshot(inventory, code)

    too_low = await inventory.http.put(url(code), json={"on_hand": 2}, headers=inventory.admin)
    assert too_low.status_code == 409 and too_low.headers["content-type"] == PROBLEM
    assert too_low.json()["type"].endswith("/below-reserved")
    for delta, problem in ((-3, "below-reserved"), (-6, "negative-on-hand")):
        refused = await adjust(inventory, code, delta)
        assert refused.status_code == 409, refused.text
        assert refused.json()["type"].endswith(f"/{problem}")
    assert await snapshot(inventory, code) == before

    exact = await put(inventory, code, on_hand=3)
    assert (exact["on_hand"], exact["reserved"], exact["available"]) == (3, 3, 0)
    public = await inventory.http.get(url(code, admin=False))
    assert public.json() == {"sku": code, "available": 0}


async def test_on_hand_never_goes_past_what_a_sku_can_hold(inventory: Inventory) -> None:
    """Two adjustments of a billion units each would pass the INTEGER column: the second is a
    409 naming the rule, never a value the database refuses."""
    code = sku("crate")
    await put(inventory, code, on_hand=MAX_UNITS - 5)
    assert (await adjust(inventory, code, 5)).status_code == 201
    before = await snapshot(inventory, code)
    for delta in (1, MAX_UNITS):
        refused = await adjust(inventory, code, delta)
        assert refused.status_code == 409, refused.text
        assert refused.headers["content-type"] == PROBLEM
        assert refused.json()["type"].endswith("/too-many-units")
    assert await snapshot(inventory, code) == before
    assert (await adjust(inventory, code, -MAX_UNITS)).status_code == 201


def forged(issuer: TestTokenIssuer) -> dict[str, str]:
    headers: dict[str, str] = bearer(
        issuer.token(roles=["admin"], key=Ed25519PrivateKey.generate())
    )
    return headers


BAD_REQUESTS: list[tuple[str, str, str, Any, str, int]] = [
    # (case, method, path suffix, body, who, status)
    ("unknown-field", "PUT", "", {"on_hand": 1, "reserved": 0}, "admin", 422),
    ("negative-on-hand", "PUT", "", {"on_hand": -1}, "admin", 422),
    ("on-hand-as-text", "PUT", "", {"on_hand": "7"}, "admin", 422),
    ("missing-on-hand", "PUT", "", {"safety_stock": 2}, "admin", 422),
    ("negative-safety", "PUT", "", {"on_hand": 1, "safety_stock": -1}, "admin", 422),
    ("zero-delta", "POST", "/adjustments", {"delta": 0, "reason": "x"}, "admin", 422),
    ("no-reason", "POST", "/adjustments", {"delta": 1}, "admin", 422),
    ("blank-reason", "POST", "/adjustments", {"delta": 1, "reason": "  "}, "admin", 422),
    ("adjust-extra", "POST", "/adjustments", {"delta": 1, "reason": "x", "sku": "y"}, "admin", 422),
    ("customer-put", "PUT", "", {"on_hand": 99}, "customer", 403),
    ("customer-adjust", "POST", "/adjustments", {"delta": 1, "reason": "x"}, "customer", 403),
    ("customer-admin-get", "GET", "", None, "customer", 403),
    ("anonymous-put", "PUT", "", {"on_hand": 99}, "nobody", 401),
    ("anonymous-adjust", "POST", "/adjustments", {"delta": 1, "reason": "x"}, "nobody", 401),
    ("forged-admin", "PUT", "", {"on_hand": 99}, "forged", 401),
]


@pytest.mark.parametrize(
    ("method", "suffix", "body", "who", "status"),
    [case[1:] for case in BAD_REQUESTS],
    ids=[case[0] for case in BAD_REQUESTS],
)
async def test_bad_requests_are_problems_that_change_nothing(
    inventory: Inventory,
    token_issuer: TestTokenIssuer,
    method: str,
    suffix: str,
    body: Any,
    who: str,
    status: int,
) -> None:
    code = sku("bad")
    await put(inventory, code, on_hand=5)
    before = await snapshot(inventory, code)
    headers: dict[str, str] = {
        "admin": inventory.admin,
        "customer": inventory.customer,
        "nobody": {},
        "forged": forged(token_issuer),
    }[who]
    response = await inventory.http.request(method, url(code) + suffix, json=body, headers=headers)
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status
    assert await snapshot(inventory, code) == before


@pytest.mark.parametrize(
    ("method", "suffix", "body", "who", "status"),
    [
        ("POST", "/adjustments", {"delta": 5, "reason": "found"}, "admin", 404),
        ("PUT", "", {"on_hand": 5}, "customer", 403),
        ("PUT", "", {"on_hand": 5}, "nobody", 401),
    ],
)
async def test_refused_requests_do_not_create_records(
    inventory: Inventory, method: str, suffix: str, body: Any, who: str, status: int
) -> None:
    code = sku("ghost")
    headers = {"admin": inventory.admin, "customer": inventory.customer, "nobody": {}}[who]
    response = await inventory.http.request(method, url(code) + suffix, json=body, headers=headers)
    assert response.status_code == status and response.headers["content-type"] == PROBLEM
    assert (await snapshot(inventory, code))[:2] == ((), 0)
    assert (await inventory.http.get(url(code, admin=False))).status_code == 404


@pytest.mark.parametrize("code", ["bad sku", "-leading-dash", "x" * 65])
async def test_sku_codes_follow_the_catalog_rule(inventory: Inventory, code: str) -> None:
    response = await inventory.http.put(url(code), json={"on_hand": 1}, headers=inventory.admin)
    assert response.status_code == 422 and response.headers["content-type"] == PROBLEM


async def test_a_retried_adjustment_with_its_idempotency_key_applies_once(
    inventory: Inventory,
) -> None:
    code = sku()
    await put(inventory, code, on_hand=10)
    headers = {**inventory.admin, "Idempotency-Key": new_order_id()}
    body = {"delta": -3, "reason": "breakage"}
    first = await inventory.http.post(f"{url(code)}/adjustments", json=body, headers=headers)
    again = await inventory.http.post(f"{url(code)}/adjustments", json=body, headers=headers)
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.headers["idempotent-replayed"] == "true"
    stock = (await inventory.http.get(url(code), headers=inventory.admin)).json()
    assert stock["on_hand"] == 7


async def test_a_refused_adjustment_is_answered_again_on_a_retry_with_its_key(
    inventory: Inventory,
) -> None:
    """The stock rule's refusal is kept with the key (Redis store): a retry gets the same 409,
    even once the stock would allow it, and changes nothing."""
    code = sku()
    await put(inventory, code, on_hand=2)
    headers = {**inventory.admin, "Idempotency-Key": new_order_id()}
    body = {"delta": -3, "reason": "breakage"}
    first = await inventory.http.post(f"{url(code)}/adjustments", json=body, headers=headers)
    assert first.status_code == 409 and first.json()["type"].endswith("/negative-on-hand")
    await put(inventory, code, on_hand=10)
    again = await inventory.http.post(f"{url(code)}/adjustments", json=body, headers=headers)
    assert (again.status_code, again.headers["content-type"]) == (409, PROBLEM)
    assert again.headers["idempotent-replayed"] == "true"
    assert again.json()["type"] == first.json()["type"]
    stock = (await inventory.http.get(url(code), headers=inventory.admin)).json()
    assert stock["on_hand"] == 10
