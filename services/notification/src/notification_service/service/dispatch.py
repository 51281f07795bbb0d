"""The dispatch job: send the deliveries that are due, record how it went, publish the end.

A round takes up to `dispatch_batch_size` due rows (PENDING or RETRY, `next_attempt_at`
passed) in one short transaction, with `FOR UPDATE SKIP LOCKED` on PostgreSQL so replicas
share the work, counts the attempt and leases each row for `dispatch_lease_seconds`. It then
sends them concurrently (`dispatch_concurrency` at a time; emails over the SMTP adapter's
kept-open connections) with no transaction open, and records the round's outcomes in one
transaction: SENT, RETRY after the backoff, or FAILED after the last attempt, together with
`notification.delivery.sent` / `.failed` in the outbox. Should that transaction fail, each
outcome is recorded in a transaction of its own, so one bad row costs no other its record.
Webhook targets are read from the database at claim time (one query per round, not cached),
so a subscription deleted before the round is never sent to.

No send outlasts the round's lease: one still running `RECORD_SECONDS` before it ends is
given up and counted as a failed attempt; one whose turn comes after that (queued behind the
round's concurrency) is given back as it was, not counted, and due again at once. A process
that dies between sending and recording leaves the rows leased, as does a database that
refuses the round's record; once the lease runs out they are due again and sent again: at
least once at the channel boundary, which SMTP and HTTP cannot do better than (webhook
receivers dedupe on the event `id`).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.logging import get_logger
from chassis.retry import exponential_delay
from notification_service.adapters.channel import DeliveryError, Message
from notification_service.config import NotificationSettings
from notification_service.deps import NotificationRuntime
from notification_service.domain.channels import Channel
from notification_service.domain.delivery import (
    DUE_STATUSES,
    RECORD_SECONDS,
    DeliveryStatus,
    RetryPolicy,
)
from notification_service.service.masking import display_recipient, error_text
from notification_service.tables import DeliveryRow, WebhookSubscriptionRow
from shared_events.notification import DeliveryFailedV1, DeliverySentV1

log = get_logger(__name__)

DUE = [status.value for status in DUE_STATUSES]
LEASE_RAN_OUT = "the round's lease ran out before the send finished"


@dataclass(frozen=True, slots=True)
class Claim:
    """A delivery taken for one attempt; `attempts` counts this one."""

    row: DeliveryRow
    attempts: int
    message: Message
    problem: str | None = None  # known before sending: fail without trying


@dataclass(frozen=True, slots=True)
class Outcome:
    status: DeliveryStatus
    error: str | None = None
    next_attempt_at: datetime | None = None
    # Its turn came too late in the round to start: not an attempt, due again at once.
    given_back: bool = False


GIVEN_BACK = Outcome(DeliveryStatus.PENDING, given_back=True)


async def send_due(runtime: NotificationRuntime) -> int:
    """One round (the chassis job calls it every `dispatch_interval_seconds`)."""
    loop = asyncio.get_running_loop()
    # The round's sends end while its lease holds, with RECORD_SECONDS left to record them: a
    # send still running then (a slow mail server, rows queued behind the pool) is given up as
    # a failed attempt, so no other replica takes and sends a row this one is still sending.
    lease_ends = loop.time() + runtime.settings.dispatch_lease_seconds - RECORD_SECONDS
    claims = await claim(runtime)
    if not claims:
        return 0
    gate = asyncio.Semaphore(runtime.settings.dispatch_concurrency)

    async def attempt(claim: Claim) -> Outcome:
        async with gate:
            if loop.time() >= lease_ends:
                return GIVEN_BACK
            try:
                async with asyncio.timeout_at(lease_ends):
                    return await send(runtime, claim)  # never raises: failures are outcomes
            except TimeoutError:
                policy = retry_policy(runtime.settings, Channel(claim.row.channel))
                return _failed(policy, claim, LEASE_RAN_OUT, permanent=False)

    outcomes = await asyncio.gather(*(attempt(c) for c in claims))
    await record_round(runtime, list(zip(claims, outcomes, strict=True)))
    return len(claims)


async def claim(runtime: NotificationRuntime) -> list[Claim]:
    settings, at = runtime.settings, datetime.now(UTC)
    async with runtime.database.transaction() as session:
        rows = (
            await session.exec(
                select(DeliveryRow)
                .where(
                    col(DeliveryRow.status).in_(DUE),
                    col(DeliveryRow.next_attempt_at) <= at,
                )
                .order_by(col(DeliveryRow.next_attempt_at))
                .limit(settings.dispatch_batch_size)
                .with_for_update(skip_locked=True)
            )
        ).all()
        for row in rows:
            row.attempts += 1
            row.next_attempt_at = at + timedelta(seconds=settings.dispatch_lease_seconds)
            row.updated_at = at
            session.add(row)
        targets = await _webhook_targets(session, [r for r in rows if r.channel == Channel.WEBHOOK])
    return [_claim(row, targets.get(row.recipient)) for row in rows]


async def _webhook_targets(
    session: AsyncSession, rows: list[DeliveryRow]
) -> dict[str, WebhookSubscriptionRow]:
    if not rows:
        return {}
    ids = {row.recipient for row in rows}
    found = await session.exec(
        select(WebhookSubscriptionRow).where(col(WebhookSubscriptionRow.id).in_(ids))
    )
    return {subscription.id: subscription for subscription in found.all()}


def _claim(row: DeliveryRow, subscription: WebhookSubscriptionRow | None) -> Claim:
    to, secret, problem = row.recipient, None, None
    if row.channel == Channel.WEBHOOK:
        if subscription is None or subscription.deleted_at is not None:
            problem = "the webhook subscription was deleted"
        else:
            to, secret = subscription.url, subscription.secret
    message = Message(row.id, to, row.subject, row.body, row.html, secret)
    return Claim(row, row.attempts, message, problem)


def retry_policy(settings: NotificationSettings, channel: Channel) -> RetryPolicy:
    """Webhooks have their own schedule; email and SMS share the messages' one."""
    if channel is Channel.WEBHOOK:
        return settings.webhook_policy()
    return settings.email_policy()


async def send(runtime: NotificationRuntime, claim: Claim) -> Outcome:
    channel = Channel(claim.row.channel)
    policy = retry_policy(runtime.settings, channel)
    try:
        if claim.problem:
            raise DeliveryError(claim.problem, permanent=True)
        adapter = runtime.state.channels.get(channel)
        if adapter is None:
            raise DeliveryError(f"no {channel} channel is configured", permanent=True)
        await adapter.send(claim.message)
    except DeliveryError as exc:
        return _failed(policy, claim, exc.reason, permanent=exc.permanent)
    except Exception as exc:  # a bug or an unexpected library error: retried like any other
        log.exception("channel adapter raised", delivery_id=claim.row.id, channel=channel.value)
        return _failed(policy, claim, f"{type(exc).__name__}: {exc}", permanent=False)
    return Outcome(DeliveryStatus.SENT)


def retry_delay(policy: RetryPolicy, attempt: int) -> float:
    """The wait after failed attempt `attempt` (from 1): the chassis' exponential schedule."""
    return exponential_delay(
        attempt, backoff_seconds=policy.backoff_seconds, cap_seconds=policy.max_backoff_seconds
    )


def _failed(policy: RetryPolicy, claim: Claim, reason: str, *, permanent: bool) -> Outcome:
    status = policy.after_failure(claim.attempts, permanent=permanent)
    retry_at = None
    if status is DeliveryStatus.RETRY:
        retry_at = datetime.now(UTC) + timedelta(seconds=retry_delay(policy, claim.attempts))
    return Outcome(status, error_text(reason), retry_at)


async def record_round(runtime: NotificationRuntime, results: list[tuple[Claim, Outcome]]) -> None:
    """Every outcome of a round in one transaction; one by one if that fails."""
    try:
        async with runtime.database.transaction() as session:
            kept = [await _store(session, runtime, c, o) for c, o in results]
    except Exception as exc:
        log.warning("recording a dispatch round failed, one by one", error=repr(exc))
        for claim, outcome in results:
            try:
                await record(runtime, claim, outcome)
            except Exception as one:  # the lease brings it back
                log.error(
                    "delivery outcome not recorded", delivery_id=claim.row.id, error=repr(one)
                )
        return
    for (claim, outcome), stored in zip(results, kept, strict=True):
        if stored and not outcome.given_back:
            _log(claim, outcome)


async def record(runtime: NotificationRuntime, claim: Claim, outcome: Outcome) -> None:
    async with runtime.database.transaction() as session:
        stored = await _store(session, runtime, claim, outcome)
    if stored and not outcome.given_back:
        _log(claim, outcome)


async def _store(
    session: AsyncSession, runtime: NotificationRuntime, claim: Claim, outcome: Outcome
) -> bool:
    row, at = claim.row, datetime.now(UTC)
    values: dict[str, object]
    if outcome.given_back:  # as it was before the claim, due now
        values = {"attempts": claim.attempts - 1, "next_attempt_at": at, "updated_at": at}
    else:
        values = {
            "status": outcome.status.value,
            "updated_at": at,
            "next_attempt_at": outcome.next_attempt_at,
            "last_error": outcome.error,
        }
    if outcome.status is DeliveryStatus.SENT:
        values["sent_at"] = at
    # Only while the lease is ours: same attempt count, still due.
    result = await session.exec(
        sa.update(DeliveryRow)
        .where(
            col(DeliveryRow.id) == row.id,
            col(DeliveryRow.attempts) == claim.attempts,
            col(DeliveryRow.status).in_(DUE),
        )
        .values(**values)
        .execution_options(synchronize_session=False)
    )
    if result.rowcount != 1:
        log.warning("delivery lease lost, outcome dropped", delivery_id=row.id)
        return False
    if outcome.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
        runtime.outbox.stage(
            session,
            _event(claim, outcome),
            subject=row.id,
            correlation_id=row.correlation_id,
            causation_id=row.cause_event_id,
        )
    return True


def _log(claim: Claim, outcome: Outcome) -> None:
    row = claim.row
    log.info(
        "delivery attempted",
        delivery_id=row.id,
        channel=row.channel,
        template=row.template,
        recipient=display_recipient(row.channel, row.recipient),
        attempt=claim.attempts,
        status=outcome.status.value,
        error=outcome.error,
    )


def _event(claim: Claim, outcome: Outcome) -> DeliverySentV1 | DeliveryFailedV1:
    row = claim.row
    common = {
        "delivery_id": row.id,
        "channel": row.channel,
        "template": row.template,
        "recipient": display_recipient(row.channel, row.recipient),
        "member_id": row.member_id,
        "cause_event_id": row.cause_event_id,
    }
    if outcome.status is DeliveryStatus.SENT:
        return DeliverySentV1(**common)
    return DeliveryFailedV1(**common, attempts=claim.attempts, error=outcome.error or "")
