"""The payment routes: the owner and admins see a payment, nobody else learns it exists."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from chassis.testing.tokens import bearer

from .conftest import PaymentService, new_order_id

pytestmark = pytest.mark.integration

PROBLEM = "application/problem+json"


@pytest.fixture(scope="module")
async def paid(payment: PaymentService) -> dict[str, str]:
    """One order paid with tok_visa and captured; its owner's id."""
    order_id, member_id = new_order_id(), f"m-{uuid.uuid4()}"
    await payment.request(order_id, member_id=member_id, amount=6_800, currency="USD")
    await payment.events_until(order_id, "payment.payment.authorized")
    await payment.confirm(order_id)
    await payment.events_until(order_id, "payment.payment.captured")
    return {"order_id": order_id, "member_id": member_id}


def assert_problem(response: Any, status: int) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == PROBLEM
    assert response.json()["status"] == status


async def test_the_owner_sees_the_payment_and_its_ledger(
    payment: PaymentService, paid: dict[str, str]
) -> None:
    response = await payment.http.get(
        f"/api/v1/payments/{paid['order_id']}",
        headers=bearer(payment.issuer.token(paid["member_id"])),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["order_id"] == paid["order_id"] and body["member_id"] == paid["member_id"]
    assert body["status"] == "CAPTURED" and body["currency"] == "USD"
    assert body["amount"] == body["captured"] == {"amount": 6_800, "currency": "USD"}
    assert body["refunded"] == {"amount": 0, "currency": "USD"}
    assert body["card"] == "tok_…isa" and body["reason"] is None
    assert [(e["kind"], e["amount"]["amount"]) for e in body["ledger"]] == [
        ("AUTHORIZE", 6_800),
        ("CAPTURE", 6_800),
    ]
    assert "provider_reference" not in body["ledger"][0]  # the provider's ids are for admins


async def test_another_member_gets_404(payment: PaymentService, paid: dict[str, str]) -> None:
    response = await payment.http.get(
        f"/api/v1/payments/{paid['order_id']}", headers=bearer(payment.issuer.token())
    )
    assert_problem(response, 404)
    missing = await payment.http.get(
        f"/api/v1/payments/{new_order_id()}", headers=bearer(payment.issuer.token())
    )
    assert_problem(missing, 404)
    # The same answer as for an order that does not exist: nothing tells them apart.
    assert response.json()["detail"] == f"order {paid['order_id']} has no payment"
    assert response.json()["type"] == missing.json()["type"]


async def test_an_admin_sees_any_payment_and_the_ledger(
    payment: PaymentService, paid: dict[str, str]
) -> None:
    admin = bearer(payment.issuer.admin_token())
    response = await payment.http.get(f"/api/v1/payments/{paid['order_id']}", headers=admin)
    assert response.status_code == 200 and response.json()["status"] == "CAPTURED"

    ledger = await payment.http.get(
        f"/api/v1/admin/payments/{paid['order_id']}/ledger", headers=admin
    )
    assert ledger.status_code == 200, ledger.text
    body = ledger.json()
    assert body["totals"] == {"AUTHORIZE": 6_800, "CAPTURE": 6_800, "VOID": 0, "REFUND": 0}
    assert [e["kind"] for e in body["entries"]] == ["AUTHORIZE", "CAPTURE"]
    assert all(e["provider_reference"].startswith("sbx_") for e in body["entries"])
    assert_problem(
        await payment.http.get(f"/api/v1/admin/payments/{new_order_id()}/ledger", headers=admin),
        404,
    )


def forged(payment: PaymentService) -> dict[str, str]:
    """An admin token signed by a key the JWKS does not publish."""
    return bearer(payment.issuer.token(roles=["admin"], key=Ed25519PrivateKey.generate()))


@pytest.mark.parametrize(
    ("route", "headers", "status"),
    [
        ("payments", lambda p: {}, 401),
        ("payments", forged, 401),
        ("payments", lambda p: bearer(p.issuer.token(expires_in=-120)), 401),
        ("ledger", lambda p: {}, 401),
        ("ledger", lambda p: bearer(p.issuer.token()), 403),
    ],
    ids=["no-token", "forged-token", "expired-token", "ledger-no-token", "ledger-member"],
)
async def test_refused_without_the_right_token(
    payment: PaymentService, paid: dict[str, str], route: str, headers: Any, status: int
) -> None:
    path = {
        "payments": f"/api/v1/payments/{paid['order_id']}",
        "ledger": f"/api/v1/admin/payments/{paid['order_id']}/ledger",
    }[route]
    assert_problem(await payment.http.get(path, headers=headers(payment)), status)


async def test_health_and_readiness(payment: PaymentService) -> None:
    assert (await payment.http.get("/healthz")).json() == {"status": "ok"}
    ready = (await payment.http.get("/readyz")).json()
    assert ready["checks"] == {"database": "ok", "broker": "ok", "redis": "ok"}
