"""Provider faults and out-of-order order events, through the chassis consumer path
(envelope -> inbox -> handler -> outbox, one transaction) on real PostgreSQL, without a broker.

A harness tries each event once: a handler that raises is dead-lettered at once, so a test
sees a refusal as `dead-lettered`; an outage (`ProviderUnavailable`) is waited out instead.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from chassis.testing.harness import Harness, offline_runtime
from chassis.testing.infra import DatabaseFactory
from chassis.testing.polling import eventually
from payment_service.adapters.providers import ProviderUnavailable, SandboxProvider
from payment_service.config import MIGRATIONS_DIR, PaymentSettings
from payment_service.deps import PaymentRuntime, PaymentState
from payment_service.handlers import CONSUMERS
from shared_events.money import Money
from shared_events.order import OrderCancelledV1, OrderConfirmedV1, PaymentRequestedV1

pytestmark = pytest.mark.integration

AUTHORIZED = "payment.payment.authorized"
FAILED = "payment.payment.failed"
CAPTURED = "payment.payment.captured"
VOIDED = "payment.payment.voided"

# Only keeps a test that fails from hanging (a provider that never answers); nothing waits it.
GUARD_SECONDS = 30.0


@pytest.fixture
async def sandbox() -> SandboxProvider:
    return SandboxProvider()


@pytest.fixture
async def harness(
    create_database: DatabaseFactory, sandbox: SandboxProvider
) -> AsyncIterator[Harness[PaymentRuntime]]:
    settings = PaymentSettings(
        database_url=await create_database("payment"),
        risk_velocity_max=2,
        provider_max_attempts=2,
        provider_backoff_seconds=0,
        provider_timeout_seconds=0.05,
    )
    state = PaymentState.build(settings, sandbox)
    async with offline_runtime(settings, state, migrations=MIGRATIONS_DIR) as runtime:
        yield Harness.of(runtime, CONSUMERS)


def requested(order_id: str, member_id: str = "m-1") -> PaymentRequestedV1:
    return PaymentRequestedV1(
        order_id=order_id,
        member_id=member_id,
        amount=Money(amount=5_000, currency="CNY"),
        payment_token="tok_visa",
    )


def confirmed(order_id: str) -> OrderConfirmedV1:
    return OrderConfirmedV1(
        order_id=order_id, member_id="m-1", total=Money(amount=5_000, currency="CNY")
    )


def cancelled(order_id: str) -> OrderCancelledV1:
    return OrderCancelledV1(
        order_id=order_id, member_id="m-1", reason="CANCELLED_BY_CUSTOMER", was_confirmed=False
    )


def counted(calls: list[int], answer: Callable[[], Awaitable[str]]) -> Callable[..., Any]:
    """A provider method that counts its calls and answers with `answer`."""

    async def method(**_: Any) -> str:
        calls[0] += 1
        return await answer()

    return method


async def _never_answers() -> str:
    await asyncio.Event().wait()  # never set: a provider that hangs
    raise AssertionError("unreachable")


async def _times_out_itself() -> str:
    raise TimeoutError("the adapter's own HTTP timeout")


@pytest.mark.parametrize("fault", [_never_answers, _times_out_itself], ids=["hangs", "own"])
async def test_an_authorisation_whose_provider_times_out_fails(
    harness: Harness[PaymentRuntime],
    sandbox: SandboxProvider,
    monkeypatch: pytest.MonkeyPatch,
    fault: Callable[[], Awaitable[str]],
) -> None:
    """A provider that never answers held the transaction and locks for ever; an adapter's
    own TimeoutError was taken for a database outage and waited for ever. Both are the
    provider unavailable: retried, then the payment fails."""
    calls = [0]
    monkeypatch.setattr(sandbox, "authorize", counted(calls, fault))
    await asyncio.wait_for(harness.deliver(requested("o-1")), GUARD_SECONDS)
    assert harness.outcomes == ["handled"]
    [(event_type, data)] = await harness.published("o-1")
    assert (event_type, data["reason"]) == (FAILED, "PAYMENT_FAILED")
    assert calls[0] == 2  # PAYMENT_PROVIDER_MAX_ATTEMPTS


async def test_a_capture_waits_out_a_hung_provider_then_captures(
    harness: Harness[PaymentRuntime], sandbox: SandboxProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each try gives up at the deadline and rolls its transaction back (locks released);
    the consumer waits for the provider, and the capture goes through once it answers."""
    await harness.deliver(requested("o-1"))
    answers = asyncio.Event()

    async def hangs_until_answered() -> str:
        await answers.wait()
        return "sbx_cap_late"

    calls = [0]
    monkeypatch.setattr(sandbox, "capture", counted(calls, hangs_until_answered))
    capture = asyncio.create_task(harness.deliver(confirmed("o-1")))
    try:

        async def tried() -> int:
            return calls[0]

        # More calls than one use case's attempts: the consumer tried the event again.
        assert await eventually(tried, lambda n: n > 2, timeout=GUARD_SECONDS) > 2
        answers.set()
        await asyncio.wait_for(capture, GUARD_SECONDS)
    finally:
        capture.cancel()
    assert harness.outcomes == ["handled", "handled"]
    assert [t for t, _ in await harness.published("o-1")] == [AUTHORIZED, CAPTURED]


async def test_a_confirmation_after_the_void_captures_nothing(
    harness: Harness[PaymentRuntime],
) -> None:
    """Two order replicas: `cancelled` delivered before `confirmed`. The authorisation is
    voided; the late confirmation is a no-op, not a refusal retried into the dead letters."""
    await harness.deliver(requested("o-1"))
    await harness.deliver(cancelled("o-1"))
    await harness.deliver(confirmed("o-1"))
    assert harness.outcomes == ["handled", "handled", "handled"]
    assert harness.dead_letters == []
    assert [t for t, _ in await harness.published("o-1")] == [AUTHORIZED, VOIDED]


async def test_provider_outages_do_not_count_toward_the_velocity_limit(
    harness: Harness[PaymentRuntime], sandbox: SandboxProvider, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member retrying through an outage (risk_velocity_max=2) is not RISK_REJECTED after:
    only attempts the provider answered count."""

    async def down() -> str:
        raise ProviderUnavailable("provider down")

    with monkeypatch.context() as patch:
        patch.setattr(sandbox, "authorize", counted([0], down))
        for order_id in ("o-1", "o-2"):
            await harness.deliver(requested(order_id))
            [(_, data)] = await harness.published(order_id)
            assert data["reason"] == "PAYMENT_FAILED"
    await harness.deliver(requested("o-3"))
    assert [t for t, _ in await harness.published("o-3")] == [AUTHORIZED]
