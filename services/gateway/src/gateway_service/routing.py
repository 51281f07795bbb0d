"""Which service answers which storefront path, and the circuit breaker. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass

# A path belongs to the longest prefix it equals or extends by `/...`.
ROUTES: tuple[tuple[str, str], ...] = (
    ("/api/v1/auth", "membership"),
    ("/api/v1/me", "membership"),
    ("/api/v1/admin/coupons", "membership"),
    ("/api/v1/products", "catalog"),
    ("/api/v1/categories", "catalog"),
    ("/api/v1/admin/products", "catalog"),
    ("/api/v1/inventory", "inventory"),
    ("/api/v1/admin/inventory", "inventory"),
    ("/api/v1/cart", "order"),
    ("/api/v1/orders", "order"),
    ("/api/v1/admin/orders", "order"),
    ("/api/v1/payments", "payment"),
    ("/api/v1/admin/payments", "payment"),
    ("/api/v1/notifications", "notification"),
    ("/api/v1/admin/notifications", "notification"),
    ("/api/v1/admin/webhooks", "notification"),
)


def upstream_for(path: str) -> str | None:
    matches = [
        (len(prefix), name)
        for prefix, name in ROUTES
        if path == prefix or path.startswith(prefix + "/")
    ]
    return max(matches)[1] if matches else None


@dataclass
class CircuitBreaker:
    """Closed: calls pass. After `failures` consecutive failures: open for `reset_seconds`,
    calls fail at once. Then half-open: one call tries; success closes, failure re-opens."""

    failures: int
    reset_seconds: float
    consecutive: int = 0
    opened_at: float | None = None

    def allows(self, now: float) -> bool:
        if self.opened_at is None:
            return True
        return now - self.opened_at >= self.reset_seconds

    def record(self, ok: bool, now: float) -> None:
        if ok:
            self.consecutive, self.opened_at = 0, None
            return
        self.consecutive += 1
        if self.consecutive >= self.failures or self.opened_at is not None:
            self.opened_at = now

    def retry_after(self, now: float) -> int:
        if self.opened_at is None:
            return 0
        return max(1, int(self.reset_seconds - (now - self.opened_at)) + 1)
