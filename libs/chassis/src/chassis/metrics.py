"""Prometheus metrics, defined once per process and labelled by service."""

from __future__ import annotations

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
