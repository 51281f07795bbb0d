"""Order events on `order.events` drive payments; the answers come back on `payment.events`.

Real PostgreSQL and a real Kafka-protocol broker: events go in through a producer, exactly as
the order service's relay sends them, and are read back from the topic.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import jsonschema
import pytest
import sqlalchemy as sa
from sqlmodel import col, func, select

from chassis.inbox import InboxRecord
from chassis.testing.polling import eventually
from chassis.testing.tokens import bearer
from payment_service.adapters.providers import ProviderUnavailable
from payment_service.tables import FxRateRow
from shared_events import Envelope, registry
from shared_events.order import OrderRejectedV1
from shared_events.schema_export import schema_path

from .conftest import VELOCITY_MAX, PaymentService, new_order_id

pytestmark = pytest.mark.integration

AUTHORIZED = "payment.payment.authorized"
FAILED = "payment.payment.failed"
CAPTURED = "payment.payment.captured"
VOIDED = "payment.payment.voided"
REFUNDED = "payment.payment.refunded"


def assert_valid(envelope: Envelope) -> None:
    """Data matches the committed (published) JSON Schema of its type and version."""
    spec = registry.spec(envelope.type, envelope.dataversion)
    jsonschema.validate(envelope.data, json.loads(schema_path(spec).read_text()))


async def test_visa_is_authorized_then_captured_on_confirmation(payment: PaymentService) -> None:
    order_id = new_order_id()
    requested = await payment.request(order_id, "tok_visa", amount=12_800)
    [authorized] = await payment.events_until(order_id, AUTHORIZED)
    assert authorized.source == "/services/payment" and authorized.subject == order_id
    assert authorized.causationid == str(requested.id)
    assert authorized.correlationid == order_id
    assert authorized.data["amount"] == {"amount": 12_800, "currency": "CNY"}
    assert authorized.data["amount_cny"] == {"amount": 12_800, "currency": "CNY"}

    confirmed = await payment.confirm(order_id)
    events = await payment.events_until(order_id, CAPTURED)
    assert [e.type for e in events] == [AUTHORIZED, CAPTURED]
    captured = events[-1]
    assert captured.causationid == str(confirmed.id)
    assert captured.data["payment_id"] == authorized.data["payment_id"]
    assert captured.data["amount"] == {"amount": 12_800, "currency": "CNY"}
    assert captured.data["amount_cny"] == {"amount": 12_800, "currency": "CNY"}
    for envelope in events:
        assert_valid(envelope)

    intent = await payment.intent(order_id)
    assert intent is not None
    assert (intent.status, intent.amount, intent.captured_amount) == ("CAPTURED", 12_800, 12_800)
    assert intent.token_hint == "tok_…isa"  # the token itself is not kept
    assert await payment.ledger(order_id) == [("AUTHORIZE", 12_800), ("CAPTURE", 12_800)]


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("tok_chargeDeclined", "PAYMENT_DECLINED"),
        ("tok_insufficientFunds", "INSUFFICIENT_FUNDS"),
        ("tok_neverHeardOf", "PAYMENT_DECLINED"),
    ],
)
async def test_declined_cards_fail_with_their_reason(
    payment: PaymentService, token: str, reason: str
) -> None:
    order_id = new_order_id()
    await payment.request(order_id, token)
    [failed] = await payment.events_until(order_id, FAILED)
    assert failed.data["reason"] == reason
    assert token not in json.dumps(failed.data)
    assert_valid(failed)
    intent = await payment.intent(order_id)
    assert intent is not None and (intent.status, intent.failure_reason) == ("FAILED", reason)
    assert await payment.ledger(order_id) == []


async def test_processing_error_is_retried_then_authorized(payment: PaymentService) -> None:
    order_id = new_order_id()
    await payment.request(order_id, "tok_processingError", amount=990)
    [authorized] = await payment.events_until(order_id, AUTHORIZED)
    # Two transient failures, then the approval: three calls inside one handler run.
    assert payment.sandbox.authorize_calls(authorized.data["payment_id"]) == 3
    assert await payment.ledger(order_id) == [("AUTHORIZE", 990)]


@pytest.mark.parametrize(
    ("amount", "currency", "expected"),
    [
        (5_000_001, "CNY", FAILED),  # one fen over 50,000.00 CNY
        (704_226, "USD", FAILED),  # 7,042.26 USD = 50,000.046 CNY
        (704_225, "USD", AUTHORIZED),  # 7,042.25 USD = 49,999.975 CNY -> 49,999.98
    ],
)
async def test_amount_over_the_risk_maximum_is_rejected(
    payment: PaymentService, amount: int, currency: str, expected: str
) -> None:
    order_id = new_order_id()
    await payment.request(order_id, "tok_visa", amount=amount, currency=currency)
    [outcome] = await payment.events_until(order_id, expected)
    if expected == FAILED:
        assert outcome.data["reason"] == "RISK_REJECTED"
        # Nothing was asked of the provider, nothing was authorised.
        assert payment.sandbox.authorize_calls(outcome.data["payment_id"]) == 0
        assert await payment.ledger(order_id) == []
    else:
        assert outcome.data["amount"] == {"amount": amount, "currency": currency}


async def test_too_many_payments_of_one_member_are_rejected(payment: PaymentService) -> None:
    member_id = f"m-{uuid.uuid4()}"
    allowed = [new_order_id() for _ in range(VELOCITY_MAX)]
    for order_id in allowed:
        await payment.request(order_id, member_id=member_id)
    for order_id in allowed:
        await payment.events_until(order_id, AUTHORIZED)

    over = new_order_id()
    await payment.request(over, member_id=member_id)
    [failed] = await payment.events_until(over, FAILED)
    assert failed.data["reason"] == "RISK_REJECTED"
    assert payment.sandbox.authorize_calls(failed.data["payment_id"]) == 0
    # Another member is not affected.
    other = new_order_id()
    await payment.request(other)
    await payment.events_until(other, AUTHORIZED)


async def test_cancel_after_authorization_voids(payment: PaymentService) -> None:
    order_id = new_order_id()
    await payment.request(order_id, amount=4_500, currency="EUR")
    await payment.events_until(order_id, AUTHORIZED)
    await payment.cancel(order_id, was_confirmed=False)
    events = await payment.events_until(order_id, VOIDED)
    assert [e.type for e in events] == [AUTHORIZED, VOIDED]
    assert events[-1].data["amount"] == {"amount": 4_500, "currency": "EUR"}
    # 45.00 EUR at the seeded 7.70: 346.50 CNY, on the authorisation and the void alike.
    assert [e.data["amount_cny"] for e in events] == [{"amount": 34_650, "currency": "CNY"}] * 2
    assert_valid(events[-1])
    intent = await payment.intent(order_id)
    assert intent is not None and (intent.status, intent.captured_amount) == ("VOIDED", 0)
    assert await payment.ledger(order_id) == [("AUTHORIZE", 4_500), ("VOID", 4_500)]


async def test_rejection_after_authorization_voids(payment: PaymentService) -> None:
    order_id = new_order_id()
    await payment.request(order_id)
    await payment.events_until(order_id, AUTHORIZED)
    await payment.send(
        OrderRejectedV1(order_id=order_id, member_id="m-any", reason="OUT_OF_STOCK"),
        order_id=order_id,
    )
    events = await payment.events_until(order_id, VOIDED)
    assert [e.type for e in events] == [AUTHORIZED, VOIDED]


async def test_cancel_after_capture_refunds(payment: PaymentService) -> None:
    order_id = new_order_id()
    await payment.request(order_id, amount=25_000)
    await payment.events_until(order_id, AUTHORIZED)
    await payment.confirm(order_id)
    await payment.events_until(order_id, CAPTURED)
    await payment.cancel(order_id, was_confirmed=True)
    events = await payment.events_until(order_id, REFUNDED)
    assert [e.type for e in events] == [AUTHORIZED, CAPTURED, REFUNDED]
    refunded = events[-1]
    assert_valid(refunded)
    assert refunded.data["amount"] == {"amount": 25_000, "currency": "CNY"}
    intent = await payment.intent(order_id)
    assert intent is not None
    assert (intent.status, intent.captured_amount, intent.refunded_amount) == (
        "REFUNDED",
        25_000,
        25_000,
    )
    assert await payment.ledger(order_id) == [
        ("AUTHORIZE", 25_000),
        ("CAPTURE", 25_000),
        ("REFUND", 25_000),
    ]
    ledger = await payment.http.get(
        f"/api/v1/admin/payments/{order_id}/ledger",
        headers=bearer(payment.issuer.admin_token()),
    )
    assert ledger.json()["entries"][-1]["id"] == refunded.data["refund_id"]


async def test_a_refund_waits_for_a_provider_that_is_down_and_is_never_dead_lettered(
    payment: PaymentService,
) -> None:
    """The provider down past every retry (the use case's and the consumer's): the refund waits
    for it, as for the database, and goes through once it answers. It was dead-lettered after
    five tries: the customer's money stayed captured for a cancelled order."""
    order_id = new_order_id()
    await payment.request(order_id, amount=9_900)
    await payment.events_until(order_id, AUTHORIZED)
    await payment.confirm(order_id)
    await payment.events_until(order_id, CAPTURED)
    real_refund, calls, down = payment.sandbox.refund, [0], [True]

    async def refund(**call: Any) -> str:
        calls[0] += 1
        if down[0]:
            raise ProviderUnavailable("provider down")
        return await real_refund(**call)

    settings = payment.settings
    tries_before = settings.provider_max_attempts * settings.consumer_max_attempts
    payment.sandbox.refund = refund  # type: ignore[method-assign]
    try:
        await payment.cancel(order_id, was_confirmed=True)

        async def tried() -> int:
            return calls[0]

        assert await eventually(tried, lambda n: n > tries_before + 4) > tries_before + 4
        down[0] = False
        events = await payment.events_until(order_id, REFUNDED)
    finally:
        del payment.sandbox.refund
    assert [e.type for e in events] == [AUTHORIZED, CAPTURED, REFUNDED]
    intent = await payment.intent(order_id)
    assert intent is not None and intent.status == "REFUNDED"


async def set_usd_rate(payment: PaymentService, micros: int) -> None:
    async with payment.runtime.database.transaction() as session:
        await session.exec(
            sa.update(FxRateRow)
            .where(col(FxRateRow.base) == "USD", col(FxRateRow.quote) == "CNY")
            .values(rate_micros=micros)
        )


async def test_capture_and_refund_convert_at_the_authorisation_rate(
    payment: PaymentService,
) -> None:
    order_id = new_order_id()
    await payment.request(order_id, amount=12_345, currency="USD")
    [authorized] = await payment.events_until(order_id, AUTHORIZED)
    # 123.45 USD at the seeded 7.10: 876.495 CNY -> 876.50 (half to even).
    cny = {"amount": 87_650, "currency": "CNY"}
    assert authorized.data["amount_cny"] == cny
    await set_usd_rate(payment, 7_300_000)  # the rates table changes in between
    try:
        await payment.confirm(order_id)
        await payment.events_until(order_id, CAPTURED)
        await payment.cancel(order_id, was_confirmed=True)
        events = await payment.events_until(order_id, REFUNDED)
        later = new_order_id()  # authorised after the change: 7.30, 901.185 -> 901.18
        await payment.request(later, amount=12_345, currency="USD")
        [later_authorized] = await payment.events_until(later, AUTHORIZED)
    finally:
        await set_usd_rate(payment, 7_100_000)
    assert [e.type for e in events] == [AUTHORIZED, CAPTURED, REFUNDED]
    for envelope in events:
        assert envelope.data["amount"] == {"amount": 12_345, "currency": "USD"}
        assert envelope.data["amount_cny"] == cny
        assert_valid(envelope)
    assert later_authorized.data["amount_cny"] == {"amount": 90_118, "currency": "CNY"}
    intent = await payment.intent(order_id)
    assert intent is not None and intent.amount_cny == 87_650


async def test_duplicated_events_have_their_effect_once(payment: PaymentService) -> None:
    order_id = new_order_id()
    member_id = f"m-{uuid.uuid4()}"
    await payment.request(order_id, member_id=member_id)
    await payment.request(order_id, member_id=member_id)  # another envelope, same order
    await payment.events_until(order_id, AUTHORIZED)

    first = await payment.confirm(order_id)
    await payment.confirm(order_id, event_id=first.id)  # redelivered: same envelope id
    second = await payment.confirm(order_id)  # the same fact in a distinct envelope
    # A later event of the same order is a barrier: it is handled after all of the above.
    await payment.cancel(order_id, was_confirmed=True)
    events = await payment.events_until(order_id, REFUNDED)
    assert [e.type for e in events] == [AUTHORIZED, CAPTURED, REFUNDED]
    assert await payment.ledger(order_id) == [
        ("AUTHORIZE", 12_800),
        ("CAPTURE", 12_800),
        ("REFUND", 12_800),
    ]
    async with payment.runtime.database.sessions() as session:
        claimed = (
            await session.exec(
                select(func.count())
                .select_from(InboxRecord)
                .where(col(InboxRecord.event_id).in_([first.id, second.id]))
            )
        ).one()
    assert claimed == 2  # both envelopes were handled (the state made the second a no-op)


@pytest.mark.parametrize("before", ["nothing", "failed"])
async def test_cancel_without_money_taken_does_nothing(
    payment: PaymentService, before: str
) -> None:
    order_id = new_order_id()
    if before == "failed":
        await payment.request(order_id, "tok_chargeDeclined")
        await payment.events_until(order_id, FAILED)
    cancelled = await payment.cancel(order_id, was_confirmed=False)
    await payment.handled(cancelled, timeout=8.0)
    expected: list[Any] = [FAILED] if before == "failed" else []
    assert await payment.staged(order_id) == expected
    assert await payment.ledger(order_id) == []


async def test_a_cancel_that_overtakes_the_payment_request_leaves_nothing_authorised(
    payment: PaymentService,
) -> None:
    # Two order replicas: one commits the payment request, the other then cancels the order,
    # and the second's relay sends first. The late request must not authorise anything.
    order_id = new_order_id()
    await payment.handled(await payment.cancel(order_id, was_confirmed=False), timeout=8.0)
    await payment.handled(await payment.request(order_id), timeout=8.0)

    assert await payment.staged(order_id) == []  # no authorisation, nothing to void later
    assert await payment.ledger(order_id) == []
    intent = await payment.intent(order_id)
    assert intent is not None
    assert (intent.status, intent.amount, intent.failure_reason) == (
        "VOIDED",
        0,
        "ORDER_ENDED_FIRST",
    )
    # No payment to show: the order never asked for one.
    admin = bearer(payment.issuer.admin_token())
    shown = await payment.http.get(f"/api/v1/payments/{order_id}", headers=admin)
    assert shown.status_code == 404, shown.text
