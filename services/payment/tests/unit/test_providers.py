from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest
from pydantic import ValidationError

from chassis.retry import retry_transient
from payment_service.adapters.providers import (
    PaymentDeclined,
    ProviderUnavailable,
    SandboxProvider,
)
from payment_service.config import PaymentSettings
from payment_service.service.payments import call_provider


async def authorize(sandbox: SandboxProvider, token: str, payment_id: str = "pay-1") -> str:
    return await sandbox.authorize(payment_id=payment_id, token=token, amount=100, currency="CNY")


async def test_visa_approves() -> None:
    sandbox = SandboxProvider()
    assert await authorize(sandbox, "tok_visa") == "sbx_auth_pay-1"
    assert await authorize(sandbox, "tok_visa") == "sbx_auth_pay-1"  # same payment, same answer


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        ("tok_chargeDeclined", "PAYMENT_DECLINED"),
        ("tok_insufficientFunds", "INSUFFICIENT_FUNDS"),
        ("tok_unknown", "PAYMENT_DECLINED"),
        ("", "PAYMENT_DECLINED"),
    ],
)
async def test_declines_are_permanent_and_say_why(token: str, reason: str) -> None:
    sandbox = SandboxProvider()
    for _ in range(3):
        with pytest.raises(PaymentDeclined) as caught:
            await authorize(sandbox, token)
        assert caught.value.reason_code == reason
        assert token not in str(caught.value) or not token  # messages never carry the token


async def test_processing_error_fails_twice_per_payment_then_approves() -> None:
    sandbox = SandboxProvider()
    for _ in range(2):
        with pytest.raises(ProviderUnavailable):
            await authorize(sandbox, "tok_processingError", "pay-a")
    assert await authorize(sandbox, "tok_processingError", "pay-a") == "sbx_auth_pay-a"
    # Counted per payment: another payment starts over.
    with pytest.raises(ProviderUnavailable):
        await authorize(sandbox, "tok_processingError", "pay-b")
    assert sandbox.authorize_calls("pay-a") == 3 and sandbox.authorize_calls("pay-b") == 1


async def test_capture_void_and_refund_succeed_with_stable_references() -> None:
    sandbox = SandboxProvider()
    capture = await sandbox.capture(
        payment_id="pay-1", authorization="sbx_auth_pay-1", amount=100, currency="CNY"
    )
    void = await sandbox.void(payment_id="pay-1", authorization="sbx_auth_pay-1")
    refund = await sandbox.refund(
        payment_id="pay-1", refund_id="re-1", capture=capture, amount=100, currency="CNY"
    )
    assert (capture, void, refund) == ("sbx_cap_pay-1", "sbx_void_pay-1", "sbx_re_re-1")


async def test_the_sandbox_remembers_a_bounded_number_of_payments() -> None:
    sandbox = SandboxProvider()
    sandbox.REMEMBERED_PAYMENTS = 2
    for payment_id in ("a", "b", "c"):
        await authorize(sandbox, "tok_visa", payment_id)
    assert [sandbox.authorize_calls(p) for p in ("a", "b", "c")] == [0, 1, 1]


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures, self.calls = failures, 0

    async def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise ProviderUnavailable("down")
        return "ok"


async def retried(call: Callable[[], Awaitable[str]], delays: list[float]) -> str:
    """`call` retried as payment retries its provider, the waits recorded instead of slept."""

    async def no_sleep(seconds: float) -> None:
        delays.append(seconds)

    return await retry_transient(
        call, transient=ProviderUnavailable, attempts=4, backoff_seconds=0.05, sleep=no_sleep
    )


async def test_transient_errors_are_retried_with_backoff() -> None:
    delays: list[float] = []
    flaky = Flaky(failures=3)
    assert await retried(flaky, delays) == "ok"
    assert flaky.calls == 4 and delays == [0.05, 0.1, 0.2]


async def test_the_last_transient_error_propagates() -> None:
    flaky = Flaky(failures=10)
    with pytest.raises(ProviderUnavailable):
        await retried(flaky, [])
    assert flaky.calls == 4


async def test_declines_are_not_retried() -> None:
    calls = 0

    async def declined() -> str:
        nonlocal calls
        calls += 1
        raise PaymentDeclined("PAYMENT_DECLINED")

    with pytest.raises(PaymentDeclined):
        await retried(declined, [])
    assert calls == 1


async def test_the_provider_is_called_as_often_as_the_settings_say() -> None:
    settings = PaymentSettings(provider_max_attempts=3, provider_backoff_seconds=0)
    recovers, stays_down = Flaky(failures=2), Flaky(failures=10)
    assert await call_provider(settings, recovers) == "ok"
    with pytest.raises(ProviderUnavailable):
        await call_provider(settings, stays_down)
    assert (recovers.calls, stays_down.calls) == (3, 3)


async def test_a_call_given_as_a_lambda_is_awaited() -> None:
    """The use cases pass `lambda: provider.authorize(...)`: a coroutine, awaited and retried."""
    settings = PaymentSettings(provider_max_attempts=3, provider_backoff_seconds=0)
    flaky = Flaky(failures=1)
    assert await call_provider(settings, lambda: flaky()) == "ok"
    assert flaky.calls == 2


class Hung:
    """A provider call that never answers (an event never set), counting its calls."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> str:
        self.calls += 1
        await asyncio.Event().wait()
        raise AssertionError("unreachable")


async def test_a_hung_provider_call_times_out_as_unavailable_and_is_retried() -> None:
    settings = PaymentSettings(
        provider_max_attempts=3, provider_backoff_seconds=0, provider_timeout_seconds=0.01
    )
    hung = Hung()
    with pytest.raises(ProviderUnavailable):
        # The guard only keeps a failing test from hanging.
        await asyncio.wait_for(call_provider(settings, hung), 30)
    assert hung.calls == 3


async def test_an_adapters_own_timeout_is_transient() -> None:
    """A bare TimeoutError would be taken by the consumer for a database outage."""
    settings = PaymentSettings(provider_max_attempts=3, provider_backoff_seconds=0)
    calls = 0

    async def times_out() -> str:
        nonlocal calls
        calls += 1
        raise TimeoutError("read timeout")

    with pytest.raises(ProviderUnavailable):
        await call_provider(settings, times_out)
    assert calls == 3


def test_the_provider_timeout_is_positive() -> None:
    assert PaymentSettings().provider_timeout_seconds == 5.0
    with pytest.raises(ValidationError):
        PaymentSettings(provider_timeout_seconds=0)
