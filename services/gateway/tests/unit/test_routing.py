from __future__ import annotations

import pytest

from gateway_service.adapters.upstreams import CircuitBreaker
from gateway_service.service.routing import upstream_for


@pytest.mark.parametrize(
    ("path", "service"),
    [
        ("/api/v1/auth/login", "membership"),
        ("/api/v1/me", "membership"),
        ("/api/v1/admin/coupons", "membership"),
        ("/api/v1/products", "catalog"),
        ("/api/v1/products/abc", "catalog"),
        ("/api/v1/admin/products/abc/publish", "catalog"),
        ("/api/v1/inventory/SKU-1", "inventory"),
        ("/api/v1/admin/inventory/SKU-1/adjustments", "inventory"),
        ("/api/v1/trace/7K3M9QX2D4F8HJ6T", "inventory"),
        ("/api/v1/cart/items/SKU-1", "order"),
        ("/api/v1/orders/o-1/cancel", "order"),
        ("/api/v1/admin/orders/o-1/ship", "order"),
        ("/api/v1/payments/o-1", "payment"),
        ("/api/v1/notifications/preferences", "notification"),
        ("/api/v1/admin/webhooks", "notification"),
        ("/api/v1/admin/analytics/kpis", "analytics"),
        ("/api/v1/admin/analytics/skus/TEA-1", "analytics"),
        ("/api/v1/admin/analyticsX", None),
        ("/ops", "analytics"),
        ("/ops/dashboard.js", "analytics"),
        ("/opsX", None),
        ("/api/v1/productsX", None),
        ("/api/v1/admin", None),
        ("/api/v2/products", None),
    ],
)
def test_each_path_has_its_service(path: str, service: str | None) -> None:
    assert upstream_for(path) == service


def test_breaker_opens_after_consecutive_failures_and_half_opens() -> None:
    breaker = CircuitBreaker(failures=3, reset_seconds=10)
    for t in range(2):
        breaker.record(False, now=t)
    assert breaker.allows(now=2)
    breaker.record(False, now=2)
    assert not breaker.allows(now=5) and breaker.retry_after(now=5) == 8
    assert breaker.allows(now=12)  # half-open: one try
    assert not breaker.allows(now=12.5) and breaker.retry_after(now=12.5) == 1  # only one
    breaker.record(False, now=13)  # the try failed: open again
    assert not breaker.allows(now=14)
    assert breaker.allows(now=23)  # the next window's try
    breaker.record(True, now=23.5)
    assert breaker.allows(now=23.5) and breaker.allows(now=23.6) and breaker.consecutive == 0


def test_a_trial_that_never_reports_is_replaced_after_another_window() -> None:
    breaker = CircuitBreaker(failures=1, reset_seconds=10)
    breaker.record(False, now=0)
    assert breaker.allows(now=10)  # the trial, then cancelled: no outcome recorded
    assert not breaker.allows(now=19)
    assert breaker.allows(now=20)


def test_a_success_resets_the_count() -> None:
    breaker = CircuitBreaker(failures=2, reset_seconds=10)
    breaker.record(False, now=0)
    breaker.record(True, now=1)
    breaker.record(False, now=2)
    assert breaker.allows(now=3)
