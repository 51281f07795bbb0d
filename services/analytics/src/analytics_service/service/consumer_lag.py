"""The consumer lag of every group on the broker, for the operators' page: read with the
chassis' admin reading (end offset minus committed offset), summed per group and topic. Read at
most once per `CACHE_SECONDS` per process, however many pages are open."""

from __future__ import annotations

import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime

from analytics_service.deps import AnalyticsRuntime
from analytics_service.schemas import ConsumerLagReport, GroupLag, TopicLag
from chassis.consumer_lag import PartitionLag, committed_lag
from chassis.errors import ProblemError

CACHE_SECONDS = 10.0
# Per broker address: the last report and when it was read.
_last: dict[str, tuple[float, ConsumerLagReport]] = {}


async def consumer_lag_report(runtime: AnalyticsRuntime) -> ConsumerLagReport:
    bootstrap = runtime.settings.kafka_bootstrap_servers
    now = time.monotonic()
    if (cached := _last.get(bootstrap)) is not None and now - cached[0] < CACHE_SECONDS:
        return cached[1]
    try:
        partitions = await committed_lag(bootstrap)
    except Exception as error:  # unreachable, timed out: the page says so and asks again
        raise ProblemError(
            503, f"the broker did not answer: {error!r}", code="broker-unavailable"
        ) from error
    report = ConsumerLagReport(read_at=datetime.now(UTC), groups=by_group(partitions))
    _last[bootstrap] = (now, report)
    return report


def by_group(partitions: Sequence[PartitionLag]) -> list[GroupLag]:
    grouped: dict[str, list[PartitionLag]] = defaultdict(list)
    for partition in partitions:
        grouped[partition.group].append(partition)
    groups = []
    for group, rows in sorted(grouped.items()):
        per_topic: dict[str, int] = defaultdict(int)
        for row in rows:
            per_topic[row.topic] += row.lag
        groups.append(
            GroupLag(
                group=group,
                lag=sum(row.lag for row in rows),
                partitions=len(rows),
                partitions_behind=sum(1 for row in rows if row.lag > 0),
                topics=[TopicLag(topic=t, lag=lag) for t, lag in sorted(per_topic.items())],
            )
        )
    return groups
