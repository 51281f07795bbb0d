"""`GET /api/v1/notifications`: a member's own messages only; admins see everyone's."""

from __future__ import annotations

from typing import Any

import pytest

from .conftest import Notification, new_id
from .servers import eventually

pytestmark = pytest.mark.integration


async def test_members_see_only_their_own_deliveries(notification: Notification) -> None:
    alice, bob = new_id("m"), new_id("m")
    alice_address = f"{alice}@example.com"
    await notification.register(alice, alice_address, "en", "Alice")
    await notification.mail.wait_for(alice_address)  # the welcome: Alice is known here
    order_id = new_id("o")
    await notification.confirm(order_id, alice)
    await notification.mail.wait_for(alice_address, count=2)

    async def all_sent() -> Any:
        page = await notification.http.get(
            "/api/v1/notifications", headers=notification.member(alice)
        )
        assert page.status_code == 200
        body = page.json()
        return body["total"] == 2 and all(i["status"] == "SENT" for i in body["items"]) and body

    body = await eventually(all_sent, what="both deliveries SENT")
    assert (body["page"], body["size"]) == (1, 20)
    newest, oldest = body["items"]
    assert newest["created_at"] >= oldest["created_at"]
    assert {newest["template"], oldest["template"]} == {"welcome", "order_confirmed"}
    confirmed = newest if newest["template"] == "order_confirmed" else oldest
    assert confirmed["subject"] == f"Order confirmed: {order_id}"
    assert confirmed["channel"] == "EMAIL"
    assert confirmed["recipient"] == f"{alice[0]}***@example.com"  # masked even for the owner
    assert alice_address not in str(body)

    paged = await notification.http.get(
        "/api/v1/notifications?page=2&size=1", headers=notification.member(alice)
    )
    assert paged.json()["total"] == 2 and paged.json()["items"] == [oldest]

    others = await notification.http.get("/api/v1/notifications", headers=notification.member(bob))
    assert others.status_code == 200
    assert others.json() == {"items": [], "total": 0, "page": 1, "size": 20}
    # An admin's own list is their own too; everyone's is under /admin.
    mine = await notification.http.get("/api/v1/notifications", headers=notification.admin)
    assert mine.json()["total"] == 0

    assert (await notification.http.get("/api/v1/notifications")).status_code == 401
    forbidden = await notification.http.get(
        f"/api/v1/admin/notifications?member_id={alice}", headers=notification.member(alice)
    )
    assert forbidden.status_code == 403

    admin = await notification.http.get(
        f"/api/v1/admin/notifications?member_id={alice}", headers=notification.admin
    )
    assert admin.status_code == 200
    items = admin.json()["items"]
    assert len(items) == 2 and {i["member_id"] for i in items} == {alice}
    assert all(i["cause_event_id"] and i["last_error"] is None for i in items)
    assert {i["cause_event_type"] for i in items} == {
        "membership.coupon.issued",
        "order.order.confirmed",
    }
