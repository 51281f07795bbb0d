"""The dead-letter watch: the operators hear when a dead-letter topic receives records.

A job, not a consumer: every `dead_letter_check_seconds` it reads the end offsets of the DLQ
of every topic of the suite (`chassis.dlq.topic_offsets`, no record read, no consumer group),
and for a DLQ written to since the operators were last told, at most once per
`dead_letter_alert_minutes`, queues one email per operator saying how many arrived and how to
look at them (`python -m chassis.dlq`). Reading offsets rather than the records keeps this
service from ever acting on a dead letter's own event type (a DLQ record keeps its `ce_type`).

Each DLQ's row is locked while a replica decides, and updated in the transaction that queues
the emails, so replicas never send the same news twice. The dispatch job sends them, like
every other message.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlmodel import select
from sqlmodel.ext.asyncio.session import AsyncSession

from chassis.db import insert_ignore
from chassis.dlq import DLQ_SUFFIX, TopicOffsets, topic_offsets
from chassis.logging import get_logger
from notification_service.deps import NotificationRuntime
from notification_service.domain.channels import Channel
from notification_service.domain.dead_letters import Told, dead_letters_to_tell
from notification_service.domain.delivery import DeliveryStatus
from notification_service.domain.templates import Template
from notification_service.tables import DeadLetterAlertRow, DeliveryRow
from shared_events.topics import ALL_TOPICS, dead_letter_topic

log = get_logger(__name__)

# The delivery log names this as the cause of the operators' email.
CAUSE_TYPE = "ops.dead_letters"


def watched_topics() -> list[str]:
    """The DLQ of every topic of the suite."""
    return [dead_letter_topic(topic) for topic in ALL_TOPICS]


async def watch(runtime: NotificationRuntime) -> int:
    """One round of the job; returns how many emails it queued."""
    offsets = await topic_offsets(runtime.settings.kafka_bootstrap_servers, watched_topics())
    now = datetime.now(UTC)
    queued = 0
    for topic, counted in sorted(offsets.items()):
        async with runtime.database.transaction() as session:
            queued += await _tell(session, runtime, topic, counted, now)
    return queued


async def _tell(
    session: AsyncSession,
    runtime: NotificationRuntime,
    topic: str,
    counted: TopicOffsets,
    now: datetime,
) -> int:
    """Queue the operators' email about `topic` if it is due; record what they were told."""
    settings = runtime.settings
    await insert_ignore(
        session, DeadLetterAlertRow, {"topic": topic, "written": 0, "notified_at": None}
    )
    row = (
        await session.exec(
            select(DeadLetterAlertRow).where(DeadLetterAlertRow.topic == topic).with_for_update()
        )
    ).one()
    told = Told(row.written, row.notified_at)
    quiet = timedelta(minutes=settings.dead_letter_alert_minutes)
    count = dead_letters_to_tell(counted.written, told, now, quiet)
    if not count:
        return 0
    operators = list(dict.fromkeys(settings.operator_emails))
    locale = settings.operator_locale
    rendered = runtime.state.renderer.render(
        Template.DEAD_LETTERS,
        locale,
        {
            "topic": topic,
            "source_topic": topic.removesuffix(DLQ_SUFFIX),
            "count": count,
            "held": counted.held,
            "since": row.notified_at,
            "quiet_minutes": f"{settings.dead_letter_alert_minutes:g}",
        },
    )
    cause = str(uuid.uuid4())  # one news item, its emails to each operator
    for address in operators:
        session.add(
            DeliveryRow(
                id=str(uuid.uuid4()),
                cause_event_id=cause,
                cause_event_type=CAUSE_TYPE,
                correlation_id=topic,
                channel=Channel.EMAIL.value,
                recipient=address,
                template=Template.DEAD_LETTERS.value,
                locale=locale,
                subject=rendered.subject,
                body=rendered.text,
                html=rendered.html,
                status=DeliveryStatus.PENDING.value,
                attempts=0,
                created_at=now,
                updated_at=now,
                next_attempt_at=now,
            )
        )
    row.written, row.notified_at = counted.written, now
    session.add(row)
    log.warning(
        "dead letters: operators told" if operators else "dead letters: no operator to tell",
        topic=topic,
        new=count,
        held=counted.held,
        operators=len(operators),
    )
    return len(operators)
