"""Prometheus metrics, defined once per process and labelled by service."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from prometheus_client import Counter, Gauge, Histogram

HTTP_REQUESTS = Counter(
    "http_requests_total", "HTTP requests served", ["service", "method", "route", "status"]
)
HTTP_LATENCY = Histogram(
    "http_request_duration_seconds", "HTTP request latency", ["service", "method", "route"]
)
HANDLER_LATENCY = Histogram(
    "event_handler_duration_seconds",
    "Time to handle one consumed event, retries included",
    ["service", "consumer", "event_type", "outcome"],
)
EVENTS_PUBLISHED = Counter("events_published_total", "Events relayed from the outbox", ["service"])
EVENTS_DEAD_LETTERED = Counter(
    "events_dead_lettered_total", "Events sent to a dead-letter topic", ["service", "consumer"]
)
OUTBOX_BACKLOG = Gauge("outbox_backlog", "Outbox rows not yet published", ["service"])
# Records of a partition the group has not taken yet: the partition's high watermark minus the
# consumer's position, set by chassis.consumer_lag when /metrics is scraped.
CONSUMER_LAG = Gauge(
    "events_consumer_lag",
    "Records on a partition not yet taken by the consumer group",
    ["group", "topic", "partition"],
)
# Records held in a dead-letter topic (chassis.dlq.DeadLetterDepth): labelled by topic only,
# since every group reading a topic dead-letters to the same DLQ.
DEAD_LETTERS = Gauge("events_dead_letters", "Records held in a dead-letter topic", ["topic"])

# Gauges that cost a query are refreshed when /metrics is scraped (chassis.health), not on a
# timer: nothing is spent while nobody looks. Keyed, so a restarted relay replaces its hook.
ScrapeHook = Callable[[], Awaitable[object]]
_scrape_hooks: dict[str, ScrapeHook] = {}


def on_scrape(key: str, hook: ScrapeHook | None) -> None:
    """Run `hook` before each scrape (None removes it)."""
    if hook is None:
        _scrape_hooks.pop(key, None)
    else:
        _scrape_hooks[key] = hook


async def refresh_on_scrape(timeout: float = 2.0) -> None:
    """Run the scrape hooks; one that fails or is slow leaves its gauge at its last value."""
    hooks = list(_scrape_hooks.values())
    if not hooks:
        return
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(
            asyncio.gather(*(hook() for hook in hooks), return_exceptions=True), timeout
        )
