"""The payment provider adapter: the interface the use cases call, and the built-in sandbox.

Errors a provider raises:
- `PaymentDeclined(reason_code)`: permanent; the payment fails with that reason;
- `ProviderUnavailable`: transient; the caller retries with backoff.

Every call carries the payment id (and, for a refund, its refund id) so that a real adapter
can derive the provider's idempotency key from them: a retried call then has its effect once.
One key per operation, never the bare payment id for all of them: a provider that caches the
answer per key (Stripe-style) would otherwise answer the capture with the authorisation it
cached. Use `f"{payment_id}:authorize"`, `f"{payment_id}:capture"`, `f"{payment_id}:void"`,
and the refund id for a refund (one per refund: a second refund of the same payment is a new
operation). Each method's docstring names its key.
Messages never contain the card token.
"""

from __future__ import annotations

from typing import Protocol

from chassis.db import DependencyUnavailable
from payment_service.domain.intents import FailureReason


class PaymentDeclined(Exception):
    """The provider said no, for good. `reason_code` is a `FailureReason` value."""

    def __init__(self, reason_code: str, message: str = "the payment was declined") -> None:
        super().__init__(f"{reason_code}: {message}")
        self.reason_code = reason_code
        self.message = message


class ProviderUnavailable(DependencyUnavailable):
    """The provider could not answer (timeout, 5xx, processing error); try again later. Still
    so after the use case's retries, a capture, void or refund waits for the provider in the
    consumer (never dead-lettered for it); an authorisation fails the payment instead."""


class PaymentProvider(Protocol):
    """What payment needs from a provider. Each method returns the provider's reference."""

    name: str

    async def authorize(self, *, payment_id: str, token: str, amount: int, currency: str) -> str:
        """Hold `amount` on the card behind the single-use `token`. Idempotency key:
        `f"{payment_id}:authorize"`."""
        ...

    async def capture(
        self, *, payment_id: str, authorization: str, amount: int, currency: str
    ) -> str:
        """Take `amount` of the authorisation `authorization`. Idempotency key:
        `f"{payment_id}:capture"` (not the authorisation's key, whose cached answer a
        provider would return instead of capturing)."""
        ...

    async def void(self, *, payment_id: str, authorization: str) -> str:
        """Release an authorisation that was not captured. Idempotency key:
        `f"{payment_id}:void"`."""
        ...

    async def refund(
        self, *, payment_id: str, refund_id: str, capture: str, amount: int, currency: str
    ) -> str:
        """Give back `amount` of the capture `capture`. Idempotency key: `refund_id` (one
        per refund; the payment id would make a second refund of it the first one again)."""
        ...


class SandboxProvider:
    """Deterministic by card token (README, "Order to cash"); in memory: development, tests.

    - `tok_visa` approves;
    - `tok_chargeDeclined` declines with PAYMENT_DECLINED;
    - `tok_insufficientFunds` declines with INSUFFICIENT_FUNDS;
    - `tok_processingError` is unavailable the first two times a given payment is authorised,
      then approves (counted per payment id, in memory);
    - any other token declines with PAYMENT_DECLINED.

    Capture, void and refund always succeed; references are derived from the ids, so asking
    twice gives the same answer, like a provider honouring an idempotency key.
    """

    name = "sandbox"
    TRANSIENT_FAILURES = 2
    REMEMBERED_PAYMENTS = 10_000  # call counts are kept for the most recent payments only

    def __init__(self) -> None:
        self._authorize_calls: dict[str, int] = {}

    def authorize_calls(self, payment_id: str) -> int:
        """How many times a payment was sent for authorisation (tests read it)."""
        return self._authorize_calls.get(payment_id, 0)

    async def authorize(self, *, payment_id: str, token: str, amount: int, currency: str) -> str:
        calls = self._authorize_calls[payment_id] = self.authorize_calls(payment_id) + 1
        if len(self._authorize_calls) > self.REMEMBERED_PAYMENTS:
            del self._authorize_calls[next(iter(self._authorize_calls))]  # the oldest
        if token == "tok_visa":  # noqa: S105 (a sandbox card token, not a secret)
            return f"sbx_auth_{payment_id}"
        if token == "tok_insufficientFunds":  # noqa: S105
            raise PaymentDeclined(FailureReason.INSUFFICIENT_FUNDS, "insufficient funds")
        if token == "tok_processingError":  # noqa: S105
            if calls <= self.TRANSIENT_FAILURES:
                raise ProviderUnavailable("sandbox processing error")
            return f"sbx_auth_{payment_id}"
        # tok_chargeDeclined and every token the sandbox does not know.
        raise PaymentDeclined(FailureReason.PAYMENT_DECLINED, "the card was declined")

    async def capture(
        self, *, payment_id: str, authorization: str, amount: int, currency: str
    ) -> str:
        return f"sbx_cap_{payment_id}"

    async def void(self, *, payment_id: str, authorization: str) -> str:
        return f"sbx_void_{payment_id}"

    async def refund(
        self, *, payment_id: str, refund_id: str, capture: str, amount: int, currency: str
    ) -> str:
        return f"sbx_re_{refund_id}"
