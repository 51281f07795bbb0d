"""The dispatch job: send the deliveries that are due, record how it went, publish the end.

A round takes up to `dispatch_batch_size` due rows (PENDING or RETRY, `next_attempt_at`
passed) in one short transaction, with `FOR UPDATE SKIP LOCKED` on PostgreSQL so replicas
share the work, counts the attempt and leases the rows for `dispatch_lease_seconds` (one
UPDATE). It then sends them concurrently (`dispatch_concurrency` at a time; emails over the
SMTP adapter's kept-open connections) with no transaction open, and records the round's
outcomes in one transaction: SENT (one UPDATE for every row sent), RETRY after the backoff, or
FAILED after the last attempt (one UPDATE each), together with `notification.delivery.sent` /
`.failed` in the outbox. Should that transaction fail, each outcome is recorded in a
transaction of its own, so one bad row costs no other its record. Webhook targets are read
from the database at claim time (one query per round, not cached), so a subscription deleted
before the round is never sent to.

No send outlasts the round's lease: one still running `RECORD_SECONDS` before it ends is
given up and counted as a failed attempt; one whose turn comes after that (queued behind the
round's concurrency) is given back as it was, not counted, and due again at once.

A stop (the chassis cancels the job at shutdown) ends the round the same way: the sends still
running are cancelled and counted as failed attempts (whether the channel took the message is
unknown), those not started are given back, and the round, what it sent included, is
recorded before the stop goes on (at most `RECORD_SECONDS` more). A cancel arriving while the
round is being recorded does not roll the record back.

A process that dies between sending and recording leaves the rows leased, as does a database
that refuses the round's record; once the lease runs out they are due again and sent again: at
least once at the channel boundary, which SMTP and HTTP cannot do better than (webhook
receivers dedupe on the event `id`). A row that comes due with no attempt left (its last
round was never recorded) is marked FAILED by the claim instead of being sent again.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.columns import table_of
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

_T = table_of(DeliveryRow)
DUE = [status.value for status in DUE_STATUSES]
LEASE_RAN_OUT = "the round's lease ran out before the send finished"
INTERRUPTED = "the service stopped during the send"
NOT_RECORDED = "no attempt left, and the last one's outcome was never recorded"


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
        policy = retry_policy(runtime.settings, Channel(claim.row.channel))
        started = False
        try:
            async with gate:
                if loop.time() >= lease_ends:
                    return GIVEN_BACK
                started = True
                async with asyncio.timeout_at(lease_ends):
                    return await send(runtime, claim)  # never raises: failures are outcomes
        except TimeoutError:
            return _failed(policy, claim, LEASE_RAN_OUT, permanent=False)
        except asyncio.CancelledError:  # the round is stopping (`_interrupt`): an outcome too
            return _failed(policy, claim, INTERRUPTED, permanent=False) if started else GIVEN_BACK

    sends = [asyncio.create_task(attempt(claim)) for claim in claims]
    try:
        await asyncio.wait(sends)
    except asyncio.CancelledError:
        # The job is stopped mid-round (the service shutting down, e.g. a rolling deploy):
        # what was sent is recorded before the stop goes on, or it would be sent again once
        # the lease runs out.
        await _interrupt(sends)
        await _let_finish(asyncio.create_task(record_round(runtime, _results(claims, sends))))
        raise
    await _record_despite_stop(runtime, _results(claims, sends))
    return len(claims)


async def _interrupt(sends: list[asyncio.Task[Outcome]]) -> None:
    """Cancel the sends still running or waiting for their turn; each ends with an outcome."""
    for task in sends:
        task.cancel()
    await asyncio.wait(sends)


def _results(
    claims: list[Claim], sends: list[asyncio.Task[Outcome]]
) -> list[tuple[Claim, Outcome]]:
    # A task cancelled before it ran a step never started its send: given back.
    return [
        (claim, GIVEN_BACK if task.cancelled() else task.result())
        for claim, task in zip(claims, sends, strict=True)
    ]


async def _record_despite_stop(
    runtime: NotificationRuntime, results: list[tuple[Claim, Outcome]]
) -> None:
    """Record the round in a task of its own: the job cancelled meanwhile (the service
    stopping) must not roll back the record of sends that happened."""
    recording = asyncio.create_task(record_round(runtime, results))
    try:
        await asyncio.shield(recording)
    except asyncio.CancelledError:
        await _let_finish(recording)
        raise


async def _let_finish(recording: asyncio.Task[None]) -> None:
    """At shutdown, wait for the round's record, at most RECORD_SECONDS: a database that does
    not answer leaves the rows to their lease rather than hold the stop."""
    await asyncio.wait([recording], timeout=RECORD_SECONDS)


async def claim(runtime: NotificationRuntime) -> list[Claim]:
    """Take up to `dispatch_batch_size` due rows for this round: count the attempt and lease
    them (one UPDATE). Rows that already had every attempt their channel allows are not sent
    again but marked FAILED (one UPDATE): their last round's outcomes were never recorded (a
    process killed mid-round, a database that refused the record), and each such round would
    otherwise send them once more, for ever."""
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
        spent = [row for row in rows if not _attempts_left(settings, row)]
        taken = [row for row in rows if _attempts_left(settings, row)]
        await _give_up(session, runtime, spent, at)
        await _lease(session, taken, at, at + timedelta(seconds=settings.dispatch_lease_seconds))
        targets = await _webhook_targets(
            session, [row for row in taken if row.channel == Channel.WEBHOOK]
        )
    return [_claim(row, targets.get(row.recipient)) for row in taken]


def _attempts_left(settings: NotificationSettings, row: DeliveryRow) -> bool:
    return row.attempts < retry_policy(settings, Channel(row.channel)).max_attempts


async def _lease(
    session: AsyncSession, rows: list[DeliveryRow], at: datetime, until: datetime
) -> None:
    """Count the round's attempt and lease the rows until `until` (they are locked: no other
    round changes them meanwhile). The rows in memory keep the count before it (`_claim`)."""
    if rows:
        await session.exec(
            sa.update(_T)
            .where(_T.c.id.in_([row.id for row in rows]))
            .values(attempts=_T.c.attempts + 1, next_attempt_at=until, updated_at=at)
        )


async def _give_up(
    session: AsyncSession, runtime: NotificationRuntime, rows: list[DeliveryRow], at: datetime
) -> None:
    """FAILED without another send, with `notification.delivery.failed` as for any failure."""
    if not rows:
        return
    await session.exec(
        sa.update(_T)
        .where(_T.c.id.in_([row.id for row in rows]))
        .values(
            status=DeliveryStatus.FAILED.value,
            last_error=NOT_RECORDED,
            next_attempt_at=None,
            updated_at=at,
        )
    )
    gave_up = Outcome(DeliveryStatus.FAILED, NOT_RECORDED)
    for row in rows:
        _stage(session, runtime, row, _event(row, gave_up, row.attempts))
    log.warning(
        "deliveries failed: their last attempts' outcomes were never recorded",
        delivery_ids=[row.id for row in rows],
    )


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
    return Claim(row, row.attempts + 1, message, problem)  # `_lease` counted this attempt


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
            stored = await _store(session, runtime, results)
    except Exception as exc:
        log.warning("recording a dispatch round failed, one by one", error=repr(exc))
        stored = []
        for result in results:
            try:
                async with runtime.database.transaction() as session:
                    stored += await _store(session, runtime, [result])
            except Exception as one:  # the lease brings it back
                log.error(
                    "delivery outcome not recorded", delivery_id=result[0].row.id, error=repr(one)
                )
    for claim, outcome in stored:
        if not outcome.given_back:
            _log(claim, outcome)


async def _store(
    session: AsyncSession, runtime: NotificationRuntime, results: list[tuple[Claim, Outcome]]
) -> list[tuple[Claim, Outcome]]:
    """Write the outcomes whose lease is still ours, with their events; return those."""
    at = datetime.now(UTC)
    stored: list[tuple[Claim, Outcome]] = []
    for batch in _batches(results):
        ours = await _update_leased(
            session, [claim for claim, _ in batch], _values(batch[0][1], at)
        )
        for claim, outcome in batch:
            if claim.row.id not in ours:
                log.warning("delivery lease lost, outcome dropped", delivery_id=claim.row.id)
                continue
            stored.append((claim, outcome))
            if outcome.status in (DeliveryStatus.SENT, DeliveryStatus.FAILED):
                _stage(session, runtime, claim.row, _event(claim.row, outcome, claim.attempts))
    return stored


def _batches(results: list[tuple[Claim, Outcome]]) -> list[list[tuple[Claim, Outcome]]]:
    """The outcomes one UPDATE records together: every row sent (usually the whole round),
    every row given back, then each failed attempt alone (its error and retry time are its
    own; failures are the rare case)."""
    sent = [(c, o) for c, o in results if o.status is DeliveryStatus.SENT]
    given_back = [(c, o) for c, o in results if o.given_back]
    failed = [
        [(c, o)] for c, o in results if o.status is not DeliveryStatus.SENT and not o.given_back
    ]
    return [batch for batch in (sent, given_back) if batch] + failed


def _values(outcome: Outcome, at: datetime) -> dict[str, object]:
    """The columns an outcome sets; the same for every row sent, and every row given back."""
    if outcome.given_back:  # as it was before the claim, due now
        return {"attempts": _T.c.attempts - 1, "next_attempt_at": at, "updated_at": at}
    values: dict[str, object] = {
        "status": outcome.status.value,
        "updated_at": at,
        "next_attempt_at": outcome.next_attempt_at,
        "last_error": outcome.error,
    }
    if outcome.status is DeliveryStatus.SENT:
        values["sent_at"] = at
    return values


async def _update_leased(
    session: AsyncSession, claims: list[Claim], values: dict[str, object]
) -> set[str]:
    """Set `values` on the claimed rows still leased to this round (same attempt count, still
    due); the ids of those."""
    leased = [(claim.row.id, claim.attempts) for claim in claims]
    result = await session.exec(
        sa.update(_T)
        .where(sa.tuple_(_T.c.id, _T.c.attempts).in_(leased), _T.c.status.in_(DUE))
        .values(values)
        .returning(_T.c.id)
    )
    return set(result.scalars().all())


def _stage(
    session: AsyncSession,
    runtime: NotificationRuntime,
    row: DeliveryRow,
    event: DeliverySentV1 | DeliveryFailedV1,
) -> None:
    runtime.outbox.stage(
        session,
        event,
        subject=row.id,
        correlation_id=row.correlation_id,
        causation_id=row.cause_event_id,
    )


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


def _event(row: DeliveryRow, outcome: Outcome, attempts: int) -> DeliverySentV1 | DeliveryFailedV1:
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
    return DeliveryFailedV1(**common, attempts=attempts, error=outcome.error or "")
