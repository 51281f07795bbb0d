"""Payment use cases. Each runs in the transaction of the order event that asked for it (the
chassis commits the inbox row, the state change, the ledger rows and the outbox rows together).

Holding that transaction open during the provider call is acceptable here because the sandbox
provider is in-process and answers at once, and every call has a deadline
(PAYMENT_PROVIDER_TIMEOUT_SECONDS). A remote provider would need the PENDING intent committed
first, the call made outside any transaction (with one idempotency key per operation, see
`adapters.providers`) and its answer applied in a second transaction.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from chassis.consumer import Delivery
from chassis.logging import get_logger
from chassis.retry import retry_transient
from chassis.rules import RuleError
from payment_service.adapters.providers import PaymentDeclined, ProviderUnavailable
from payment_service.config import PaymentSettings
from payment_service.deps import PaymentRuntime
from payment_service.domain.cards import mask_token
from payment_service.domain.currency import RISK_CURRENCY, convert, converted_part
from payment_service.domain.intents import (
    ENDED_BEFORE_REQUEST,
    Action,
    FailureReason,
    Intent,
    IntentStatus,
    LedgerKind,
    already_done,
    compensation,
    ended_first,
)
from payment_service.domain.risk import risk_rejection
from payment_service.service import intent_rows
from payment_service.service.intent_rows import LockedIntent
from shared_events import payment as events
from shared_events.money import REPORTING_CURRENCY, Money

log = get_logger(__name__)

# Payment and refund ids are derived, not random: the provider's idempotency keys are made from
# them (one per operation, `adapters.providers`), so a handler that is retried after the
# provider answered (its transaction rolled back) asks for the same authorisation or refund
# again instead of a second one.
PAYMENT_NAMESPACE = uuid.UUID("0c9e4b0a-3f55-4a53-9d2e-6b1f3c7a8e21")
REFUND_NAMESPACE = uuid.UUID("6f1c2d4e-8a57-4f0e-9b43-2f7a9d1c5e60")


async def call_provider(settings: PaymentSettings, call: Callable[[], Awaitable[str]]) -> str:
    """Retry transient provider errors (`ProviderUnavailable`) with exponential backoff, as
    PAYMENT_PROVIDER_MAX_ATTEMPTS and PAYMENT_PROVIDER_BACKOFF_SECONDS say; a decline is not
    retried, and the last transient error propagates. Each attempt has
    PAYMENT_PROVIDER_TIMEOUT_SECONDS to answer (see `_within_deadline`)."""

    return await retry_transient(
        lambda: _within_deadline(settings.provider_timeout_seconds, call),
        transient=ProviderUnavailable,
        attempts=settings.provider_max_attempts,
        backoff_seconds=settings.provider_backoff_seconds,
        message="payment provider unavailable, retrying",
    )


async def _within_deadline(seconds: float, call: Callable[[], Awaitable[str]]) -> str:
    """One provider call, given up after `seconds`. A timeout (ours, or the adapter's own
    `TimeoutError`) is the provider unavailable: retried, then handled as an outage of the
    provider. Left a bare `TimeoutError`, it was not retried, and the consumer took it for a
    database outage and waited for ever, even for an authorisation that should fail."""
    try:
        async with asyncio.timeout(seconds):
            return await call()
    except TimeoutError as error:
        raise ProviderUnavailable(
            f"the payment provider timed out (deadline {seconds} s)"
        ) from error


def _entry_id() -> str:
    return str(uuid.uuid4())


def _money(intent: LockedIntent, amount: int) -> Money:
    return Money(amount=amount, currency=intent.currency)


def _cny(intent: LockedIntent, upto: int, *, after: int = 0) -> Money | None:
    """The CNY of the intent's minor units from `after` to `upto`, at the authorisation's rate
    (None for an intent authorised before that rate was recorded)."""
    if intent.amount_cny is None:
        return None
    whole, whole_cny = intent.state.amount, intent.amount_cny
    part = converted_part(whole, whole_cny, upto) - converted_part(whole, whole_cny, after)
    return Money(amount=part, currency=REPORTING_CURRENCY)


def intent_id(order_id: str) -> str:
    """One intent per order, its id derived from the order's: a second request finds it."""
    return str(uuid.uuid5(PAYMENT_NAMESPACE, order_id))


async def authorize(
    delivery: Delivery[PaymentRuntime],
    *,
    order_id: str,
    member_id: str,
    amount: Money,
    token: str,
) -> None:
    """Create the order's intent (once), apply the risk rules, authorise at the provider."""
    runtime = delivery.runtime
    limits = runtime.state.limits
    conn = await delivery.session.connection()
    now = datetime.now(UTC)
    intent = LockedIntent(
        id=intent_id(order_id),
        order_id=order_id,
        currency=amount.currency,
        state=Intent(IntentStatus.PENDING, amount.amount),
    )
    claimed = await intent_rows.claim_intent(
        conn,
        intent.id,
        order_id,
        member_id=member_id,
        currency=amount.currency,
        amount=amount.amount,
        status=IntentStatus.PENDING,
        at=now,
        token_hint=mask_token(token),
    )
    if not claimed:
        return  # this order's payment was already requested: its outcome is published
    await intent_rows.lock_member(conn, member_id)
    recent = await intent_rows.recent_payments(
        conn, member_id, limits.velocity_window_seconds, now, besides=intent.id
    )
    try:
        # Rates are read only when there is something to convert.
        rates = {} if amount.currency == RISK_CURRENCY else await intent_rows.load_rates(conn)
        amount_cny = convert(amount.amount, amount.currency, RISK_CURRENCY, rates)
    except RuleError as error:  # a currency without a rate
        await _fail(delivery, conn, intent, FailureReason.PAYMENT_FAILED, error.detail)
        return
    rejection = risk_rejection(amount_cny, recent, limits)
    if rejection is not None:  # nothing reaches the provider
        await _fail(delivery, conn, intent, FailureReason.RISK_REJECTED, rejection)
        return
    provider = runtime.state.provider
    try:
        reference = await call_provider(
            runtime.settings,
            lambda: provider.authorize(
                payment_id=intent.id,
                token=token,
                amount=intent.state.amount,
                currency=intent.currency,
            ),
        )
    except PaymentDeclined as declined:
        await _fail(delivery, conn, intent, declined.reason_code, declined.message)
        return
    except ProviderUnavailable:  # still down after every attempt
        await _fail(
            delivery,
            conn,
            intent,
            FailureReason.PAYMENT_FAILED,
            "the payment provider is unavailable",
        )
        return
    at = datetime.now(UTC)
    # Kept on the intent: its capture, void and refunds convert at this same rate.
    await intent_rows.save_state(
        conn, intent.id, intent.state.authorize(), at, amount_cny=amount_cny
    )
    await intent_rows.add_entry(
        conn, intent, LedgerKind.AUTHORIZE, intent.state.amount, reference, at, _entry_id()
    )
    delivery.stage(
        events.PaymentAuthorizedV1(
            order_id=order_id,
            payment_id=intent.id,
            amount=_money(intent, intent.state.amount),
            amount_cny=Money(amount=amount_cny, currency=REPORTING_CURRENCY),
        ),
        subject=order_id,
    )
    log.info("payment authorized", order_id=order_id, payment_id=intent.id)


async def _fail(
    delivery: Delivery[PaymentRuntime],
    conn: AsyncConnection,
    intent: LockedIntent,
    reason: str,
    message: str,
) -> None:
    failure = (str(reason), message[:500])
    await intent_rows.save_state(
        conn, intent.id, intent.state.fail(), datetime.now(UTC), failure=failure
    )
    delivery.stage(
        events.PaymentFailedV1(
            order_id=intent.order_id, payment_id=intent.id, reason=str(reason), message=message
        ),
        subject=intent.order_id,
    )
    log.info("payment failed", order_id=intent.order_id, payment_id=intent.id, reason=str(reason))


async def _existing(conn: AsyncConnection, order_id: str) -> LockedIntent:
    intent = await intent_rows.lock_intent(conn, order_id)
    if intent is None:
        # payment.requested precedes every other event of an order on its partition.
        raise RuleError("no-payment", f"order {order_id} has no payment")
    return intent


async def capture(delivery: Delivery[PaymentRuntime], order_id: str) -> None:
    """The order is confirmed: capture the full authorised amount, once."""
    conn = await delivery.session.connection()
    intent = await _existing(conn, order_id)
    if already_done(intent.state.status, Action.CAPTURE):
        return
    if ended_first(intent.state.status, Action.CAPTURE):
        # Another order replica's cancellation was delivered first and the authorisation is
        # voided (or it failed): nothing to capture, and retrying would not change that.
        log.warning(
            "order confirmed after its payment ended",
            order_id=order_id,
            payment_id=intent.id,
            status=str(intent.state.status),
        )
        return
    captured = intent.state.capture()  # refuses anything but AUTHORIZED
    authorization = await intent_rows.provider_reference(
        conn, intent, LedgerKind.AUTHORIZE, known=intent.authorization
    )
    provider = delivery.runtime.state.provider
    reference = await call_provider(
        delivery.runtime.settings,
        lambda: provider.capture(
            payment_id=intent.id,
            authorization=authorization,
            amount=captured.captured,
            currency=intent.currency,
        ),
    )
    at = datetime.now(UTC)
    await intent_rows.save_state(conn, intent.id, captured, at)
    await intent_rows.add_entry(
        conn, intent, LedgerKind.CAPTURE, captured.captured, reference, at, _entry_id()
    )
    delivery.stage(
        events.PaymentCapturedV1(
            order_id=order_id,
            payment_id=intent.id,
            amount=_money(intent, captured.captured),
            amount_cny=_cny(intent, captured.captured),
        ),
        subject=order_id,
    )
    log.info("payment captured", order_id=order_id, payment_id=intent.id)


async def release(
    delivery: Delivery[PaymentRuntime], order_id: str, member_id: str, *, cancelled: bool
) -> None:
    """The order ended without completing: void the authorisation or refund the capture."""
    conn = await delivery.session.connection()
    intent = await intent_rows.lock_intent(conn, order_id)
    if intent is None:
        # Rejected or cancelled before payment was requested: nothing was taken. A rejection
        # always comes before any request; a cancellation may overtake one that is on its way
        # (another replica's relay sends it later), so it leaves a final intent that the late
        # request finds taken, and nothing is authorised for a cancelled order.
        if cancelled:
            await _record_ended_first(conn, order_id, member_id)
        return
    action = compensation(intent.state.status, order_was_cancelled=cancelled)
    if action is Action.VOID:
        await _void(delivery, conn, intent)
    elif action is Action.REFUND:
        await _refund(delivery, conn, intent)


async def _record_ended_first(conn: AsyncConnection, order_id: str, member_id: str) -> None:
    recorded = await intent_rows.claim_intent(
        conn,
        intent_id(order_id),
        order_id,
        member_id=member_id,
        currency=REPORTING_CURRENCY,
        amount=0,
        status=IntentStatus.VOIDED,
        at=datetime.now(UTC),
        failure_reason=ENDED_BEFORE_REQUEST,
    )
    if recorded:
        log.info("order ended before its payment was requested", order_id=order_id)


async def _void(
    delivery: Delivery[PaymentRuntime], conn: AsyncConnection, intent: LockedIntent
) -> None:
    voided = intent.state.void()
    authorization = await intent_rows.provider_reference(
        conn, intent, LedgerKind.AUTHORIZE, known=intent.authorization
    )
    provider = delivery.runtime.state.provider
    reference = await call_provider(
        delivery.runtime.settings,
        lambda: provider.void(payment_id=intent.id, authorization=authorization),
    )
    at = datetime.now(UTC)
    await intent_rows.save_state(conn, intent.id, voided, at)
    await intent_rows.add_entry(
        conn, intent, LedgerKind.VOID, intent.state.amount, reference, at, _entry_id()
    )
    delivery.stage(
        events.PaymentVoidedV1(
            order_id=intent.order_id,
            payment_id=intent.id,
            amount=_money(intent, intent.state.amount),
            amount_cny=_cny(intent, intent.state.amount),
        ),
        subject=intent.order_id,
    )
    log.info("payment voided", order_id=intent.order_id, payment_id=intent.id)


async def _refund(
    delivery: Delivery[PaymentRuntime], conn: AsyncConnection, intent: LockedIntent
) -> None:
    before = intent.state
    amount = before.refundable
    if amount == 0:
        return  # a zero-amount capture: nothing to give back
    refunded = before.refund(amount)
    refund_id = str(uuid.uuid5(REFUND_NAMESPACE, f"{intent.id}:{before.refunded}"))
    capture_reference = await intent_rows.provider_reference(
        conn, intent, LedgerKind.CAPTURE, known=intent.capture
    )
    provider = delivery.runtime.state.provider
    reference = await call_provider(
        delivery.runtime.settings,
        lambda: provider.refund(
            payment_id=intent.id,
            refund_id=refund_id,
            capture=capture_reference,
            amount=amount,
            currency=intent.currency,
        ),
    )
    at = datetime.now(UTC)
    await intent_rows.save_state(conn, intent.id, refunded, at)
    await intent_rows.add_entry(conn, intent, LedgerKind.REFUND, amount, reference, at, refund_id)
    delivery.stage(
        events.PaymentRefundedV1(
            order_id=intent.order_id,
            payment_id=intent.id,
            refund_id=refund_id,
            amount=_money(intent, amount),
            amount_cny=_cny(intent, refunded.refunded, after=before.refunded),
        ),
        subject=intent.order_id,
    )
    log.info(
        "payment refunded", order_id=intent.order_id, payment_id=intent.id, refund_id=refund_id
    )
