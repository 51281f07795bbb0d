"""Payment use cases. Each runs in the transaction of the order event that asked for it (the
chassis commits the inbox row, the state change, the ledger rows and the outbox rows together).

Holding that transaction open during the provider call is acceptable here because the sandbox
provider is in-process and answers at once. A remote provider would need the PENDING intent
committed first, the call made outside any transaction (with the payment id as idempotency
key) and its answer applied in a second transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TypeVar

from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.consumer import Delivery
from chassis.logging import get_logger
from payment_service import domain
from payment_service.config import PaymentSettings
from payment_service.domain import Action, FailureReason, IntentStatus, LedgerKind
from payment_service.providers import PaymentDeclined, PaymentProvider, ProviderUnavailable
from payment_service.service import store
from payment_service.tables import LedgerEntryRow, PaymentIntentRow
from shared_events import payment as events
from shared_events.money import Money

log = get_logger(__name__)

T = TypeVar("T")

# Payment and refund ids are derived, not random: they are the provider's idempotency keys, so
# a handler that is retried after the provider answered (its transaction rolled back) asks for
# the same authorisation or refund again instead of a second one.
PAYMENT_NAMESPACE = uuid.UUID("0c9e4b0a-3f55-4a53-9d2e-6b1f3c7a8e21")
REFUND_NAMESPACE = uuid.UUID("6f1c2d4e-8a57-4f0e-9b43-2f7a9d1c5e60")


async def call_provider(
    call: Callable[[], Awaitable[T]], *, attempts: int, backoff_seconds: float
) -> T:
    """Retry transient provider errors with exponential backoff; the last one propagates."""
    delay = backoff_seconds
    for attempt in range(1, attempts + 1):
        try:
            return await call()
        except ProviderUnavailable as exc:
            if attempt == attempts:
                raise
            log.warning("payment provider unavailable, retrying", attempt=attempt, error=str(exc))
            await asyncio.sleep(delay)
            delay *= 2
    raise AssertionError("unreachable")


def _state(row: PaymentIntentRow) -> domain.Intent:
    return domain.Intent(
        IntentStatus(row.status), row.amount, row.captured_amount, row.refunded_amount
    )


def _apply(row: PaymentIntentRow, state: domain.Intent) -> None:
    row.status = state.status.value
    row.captured_amount = state.captured
    row.refunded_amount = state.refunded
    row.updated_at = datetime.now(UTC)


def _record(
    session: AsyncSession,
    row: PaymentIntentRow,
    kind: LedgerKind,
    amount: int,
    reference: str,
    entry_id: str | None = None,
) -> None:
    session.add(
        LedgerEntryRow(
            entry_id=entry_id or str(uuid.uuid4()),
            intent_id=row.id,
            kind=kind.value,
            amount=amount,
            currency=row.currency,
            provider_reference=reference,
            at=datetime.now(UTC),
        )
    )


def _money(row: PaymentIntentRow, amount: int) -> Money:
    return Money(amount=amount, currency=row.currency)


@dataclass(frozen=True)
class Payments:
    """The use cases driven by order events, with the provider and the rules they apply."""

    provider: PaymentProvider
    limits: domain.RiskLimits
    provider_attempts: int = 4
    provider_backoff_seconds: float = 0.05

    @classmethod
    def from_settings(cls, settings: PaymentSettings, provider: PaymentProvider) -> Payments:
        return cls(
            provider=provider,
            limits=domain.RiskLimits(
                max_amount_cny=settings.risk_max_amount_cny,
                velocity_max=settings.risk_velocity_max,
                velocity_window_seconds=settings.risk_velocity_window_seconds,
            ),
            provider_attempts=settings.provider_max_attempts,
            provider_backoff_seconds=settings.provider_backoff_seconds,
        )

    async def _call(self, call: Callable[[], Awaitable[str]]) -> str:
        return await call_provider(
            call, attempts=self.provider_attempts, backoff_seconds=self.provider_backoff_seconds
        )

    async def authorize(
        self, delivery: Delivery, *, order_id: str, member_id: str, amount: Money, token: str
    ) -> None:
        """Create the order's intent (once), apply the risk rules, authorise at the provider."""
        session = delivery.session
        if await store.intent_by_order(session, order_id, for_update=True) is not None:
            return  # this order's payment was already requested: its outcome is published
        await store.lock_member(session, member_id)
        now = datetime.now(UTC)
        row = PaymentIntentRow(
            id=str(uuid.uuid5(PAYMENT_NAMESPACE, order_id)),
            order_id=order_id,
            member_id=member_id,
            currency=amount.currency,
            amount=amount.amount,
            status=IntentStatus.PENDING.value,
            token_hint=domain.mask_token(token),
            created_at=now,
            updated_at=now,
        )
        recent = await store.recent_payments(
            session, member_id, self.limits.velocity_window_seconds, now
        )
        session.add(row)
        await session.flush()  # a concurrent duplicate waits here on order_id, then fails
        try:
            amount_cny = domain.convert(
                amount.amount,
                amount.currency,
                domain.RISK_CURRENCY,
                await store.load_rates(session),
            )
        except domain.PaymentRuleError as error:  # a currency without a rate
            self._fail(delivery, row, FailureReason.PAYMENT_FAILED, error.detail)
            return
        rejection = domain.risk_rejection(amount_cny, recent, self.limits)
        if rejection is not None:  # nothing reaches the provider
            self._fail(delivery, row, FailureReason.RISK_REJECTED, rejection)
            return
        try:
            reference = await self._call(
                lambda: self.provider.authorize(
                    payment_id=row.id, token=token, amount=row.amount, currency=row.currency
                )
            )
        except PaymentDeclined as declined:
            self._fail(delivery, row, declined.reason_code, declined.message)
            return
        except ProviderUnavailable:  # still down after every attempt
            self._fail(
                delivery, row, FailureReason.PAYMENT_FAILED, "the payment provider is unavailable"
            )
            return
        _apply(row, _state(row).authorize())
        _record(session, row, LedgerKind.AUTHORIZE, row.amount, reference)
        delivery.stage(
            events.PaymentAuthorizedV1(
                order_id=order_id, payment_id=row.id, amount=_money(row, row.amount)
            ),
            subject=order_id,
        )
        log.info("payment authorized", order_id=order_id, payment_id=row.id)

    def _fail(self, delivery: Delivery, row: PaymentIntentRow, reason: str, message: str) -> None:
        _apply(row, _state(row).fail())
        row.failure_reason, row.failure_message = str(reason), message[:500]
        delivery.session.add(row)
        delivery.stage(
            events.PaymentFailedV1(
                order_id=row.order_id, payment_id=row.id, reason=str(reason), message=message
            ),
            subject=row.order_id,
        )
        log.info("payment failed", order_id=row.order_id, payment_id=row.id, reason=str(reason))

    async def _existing(self, delivery: Delivery, order_id: str) -> PaymentIntentRow:
        row = await store.intent_by_order(delivery.session, order_id, for_update=True)
        if row is None:
            # payment.requested precedes every other event of an order on its partition.
            raise domain.PaymentRuleError("no-payment", f"order {order_id} has no payment")
        return row

    async def capture(self, delivery: Delivery, order_id: str) -> None:
        """The order is confirmed: capture the full authorised amount, once."""
        row = await self._existing(delivery, order_id)
        state = _state(row)
        if domain.already_done(state.status, Action.CAPTURE):
            return
        captured = state.capture()  # refuses anything but AUTHORIZED
        authorization = await store.provider_reference(
            delivery.session, row.id, LedgerKind.AUTHORIZE
        )
        reference = await self._call(
            lambda: self.provider.capture(
                payment_id=row.id,
                authorization=authorization,
                amount=captured.captured,
                currency=row.currency,
            )
        )
        _apply(row, captured)
        _record(delivery.session, row, LedgerKind.CAPTURE, captured.captured, reference)
        delivery.stage(
            events.PaymentCapturedV1(
                order_id=order_id, payment_id=row.id, amount=_money(row, captured.captured)
            ),
            subject=order_id,
        )
        log.info("payment captured", order_id=order_id, payment_id=row.id)

    async def release(self, delivery: Delivery, order_id: str, *, cancelled: bool) -> None:
        """The order ended without completing: void the authorisation or refund the capture."""
        row = await store.intent_by_order(delivery.session, order_id, for_update=True)
        if row is None:
            return  # rejected or cancelled before payment was requested: nothing was taken
        action = domain.compensation(IntentStatus(row.status), order_was_cancelled=cancelled)
        if action is Action.VOID:
            await self._void(delivery, row)
        elif action is Action.REFUND:
            await self._refund(delivery, row)

    async def _void(self, delivery: Delivery, row: PaymentIntentRow) -> None:
        voided = _state(row).void()
        authorization = await store.provider_reference(
            delivery.session, row.id, LedgerKind.AUTHORIZE
        )
        reference = await self._call(
            lambda: self.provider.void(payment_id=row.id, authorization=authorization)
        )
        _apply(row, voided)
        _record(delivery.session, row, LedgerKind.VOID, row.amount, reference)
        delivery.stage(
            events.PaymentVoidedV1(
                order_id=row.order_id, payment_id=row.id, amount=_money(row, row.amount)
            ),
            subject=row.order_id,
        )
        log.info("payment voided", order_id=row.order_id, payment_id=row.id)

    async def _refund(self, delivery: Delivery, row: PaymentIntentRow) -> None:
        before = _state(row)
        amount = before.refundable
        if amount == 0:
            return  # a zero-amount capture: nothing to give back
        refunded = before.refund(amount)
        refund_id = str(uuid.uuid5(REFUND_NAMESPACE, f"{row.id}:{before.refunded}"))
        capture = await store.provider_reference(delivery.session, row.id, LedgerKind.CAPTURE)
        reference = await self._call(
            lambda: self.provider.refund(
                payment_id=row.id,
                refund_id=refund_id,
                capture=capture,
                amount=amount,
                currency=row.currency,
            )
        )
        _apply(row, refunded)
        _record(delivery.session, row, LedgerKind.REFUND, amount, reference, entry_id=refund_id)
        delivery.stage(
            events.PaymentRefundedV1(
                order_id=row.order_id,
                payment_id=row.id,
                refund_id=refund_id,
                amount=_money(row, amount),
            ),
            subject=row.order_id,
        )
        log.info("payment refunded", order_id=row.order_id, payment_id=row.id, refund_id=refund_id)
