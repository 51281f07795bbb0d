"""Webhooks: admin-registered subscribers on allow-listed hosts get signed events; a failing
subscriber is retried with backoff, then the delivery FAILED and that is published."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from notification_service.domain.signing import SIGNATURE_HEADER, parse_header, verify
from shared_events.inventory import StockLowV1

from .conftest import BACKOFF, MAX_ATTEMPTS, OPERATOR, Notification, new_id
from .servers import WebhookReceiver, eventually, text_of

pytestmark = pytest.mark.integration


async def subscribe(notification: Notification, url: str, events: list[str]) -> dict[str, Any]:
    response = await notification.http.post(
        "/api/v1/admin/webhooks",
        json={"url": url, "events": events},
        headers=notification.admin,
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def test_subscriber_gets_the_event_signed_with_its_secret(
    notification: Notification, receiver: WebhookReceiver
) -> None:
    created = await subscribe(
        notification, receiver.url, ["inventory.stock.low", "order.order.confirmed"]
    )
    assert created["secret"].startswith("whsec_")
    assert created["events"] == ["inventory.stock.low", "order.order.confirmed"]

    sku = new_id("TEA")
    low = await notification.publish(StockLowV1(sku=sku, available=2, safety_stock=5), sku)
    await eventually(lambda: receiver.hits, what="the webhook POST")

    [hit] = receiver.hits
    header = hit.headers[SIGNATURE_HEADER]
    assert verify(created["secret"], hit.body, header, now=int(time.time()))
    assert not verify("whsec_someone-else", hit.body, header, now=int(time.time()))
    timestamp, _ = parse_header(header)
    assert timestamp is not None and abs(time.time() - timestamp) < 60
    event = json.loads(hit.body)
    assert event == {
        "id": str(low.id),
        "type": "inventory.stock.low",
        "subject": sku,
        "time": low.time.isoformat(),
        "data": {"sku": sku, "available": 2, "safety_stock": 5},
    }
    # The operators hear about it by email too, in the operator locale (en here).
    [mail] = await notification.mail.wait_for(OPERATOR)
    assert mail["Subject"] == f"Low stock: {sku} has 2 available"
    assert "under its safety stock of 5" in text_of(mail)

    listed = await notification.http.get("/api/v1/admin/webhooks", headers=notification.admin)
    assert listed.status_code == 200
    [public] = listed.json()["items"]
    assert public["id"] == created["id"] and "secret" not in public  # shown once only


async def test_failing_subscriber_is_retried_then_failed(
    notification: Notification, receiver: WebhookReceiver
) -> None:
    receiver.status = 500
    created = await subscribe(notification, receiver.url, ["inventory.stock.low"])
    sku = new_id("RICE")
    cause = await notification.publish(StockLowV1(sku=sku, available=0, safety_stock=3), sku)

    async def failed() -> Any:
        rows = await notification.deliveries(cause_event_id=str(cause.id), channel="WEBHOOK")
        return rows and rows[0].status == "FAILED" and rows[0]

    row = await eventually(failed, timeout=20, what="the delivery to fail")
    assert len(receiver.hits) == MAX_ATTEMPTS == row.attempts
    assert row.recipient == created["id"] and row.last_error == "webhook answered HTTP 500"
    # Exponential backoff between attempts: at least BACKOFF * 2**(n-1) after attempt n.
    gaps = [b.at - a.at for a, b in zip(receiver.hits, receiver.hits[1:], strict=False)]
    for n, gap in enumerate(gaps, start=1):
        assert gap >= BACKOFF * 2 ** (n - 1) * 0.95, gaps
    # Every attempt carries a valid signature of the same body.
    assert len({hit.body for hit in receiver.hits}) == 1
    for hit in receiver.hits:
        assert verify(
            created["secret"], hit.body, hit.headers[SIGNATURE_HEADER], now=int(time.time())
        )

    events = await notification.published(until=lambda got: any(e.subject == row.id for e in got))
    [failure] = [e for e in events if e.subject == row.id]
    assert failure.type == "notification.delivery.failed"
    assert failure.data["attempts"] == MAX_ATTEMPTS
    assert failure.data["channel"] == "WEBHOOK" and failure.causationid == str(cause.id)
    assert len(receiver.hits) == MAX_ATTEMPTS  # nothing after FAILED


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (
            {"url": "https://hooks.example.com/x", "events": ["order.order.confirmed"]},
            "webhook-host-not-allowed",
        ),
        (
            {"url": "http://10.0.0.8/x", "events": ["order.order.confirmed"]},
            "webhook-host-not-allowed",
        ),
        ({"url": "ftp://127.0.0.1/x", "events": ["order.order.confirmed"]}, "validation-error"),
        (
            {"url": "http://127.0.0.1/x", "events": ["membership.member.registered"]},
            "validation-error",
        ),
        ({"url": "http://127.0.0.1/x", "events": []}, "validation-error"),
        (
            {"url": "http://127.0.0.1/x", "events": ["order.order.confirmed"], "secret": "mine"},
            "validation-error",
        ),
    ],
)
async def test_registration_refuses_other_hosts_and_unknown_fields(
    notification: Notification, body: dict[str, Any], code: str
) -> None:
    response = await notification.http.post(
        "/api/v1/admin/webhooks", json=body, headers=notification.admin
    )
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["type"].endswith(code)


async def test_only_admins_manage_webhooks_and_delete_stops_deliveries(
    notification: Notification, receiver: WebhookReceiver
) -> None:
    body = {"url": receiver.url, "events": ["inventory.stock.low"]}
    member = notification.member(new_id("m"))
    assert (await notification.http.post("/api/v1/admin/webhooks", json=body)).status_code == 401
    forbidden = await notification.http.post("/api/v1/admin/webhooks", json=body, headers=member)
    assert forbidden.status_code == 403

    created = await subscribe(notification, receiver.url, ["inventory.stock.low"])
    path = f"/api/v1/admin/webhooks/{created['id']}"
    assert (await notification.http.delete(path, headers=notification.admin)).status_code == 204
    assert (await notification.http.delete(path, headers=notification.admin)).status_code == 404
    listed = await notification.http.get("/api/v1/admin/webhooks", headers=notification.admin)
    assert listed.json()["items"] == []

    sku = new_id("SALT")
    low = await notification.publish(StockLowV1(sku=sku, available=1, safety_stock=2), sku)
    await notification.handled(low)
    assert await notification.deliveries(cause_event_id=str(low.id), channel="WEBHOOK") == []
    assert receiver.hits == []
