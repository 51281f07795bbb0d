"""A delivery's states and its retry schedule. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class DeliveryStatus(StrEnum):
    """PENDING and RETRY are due at `next_attempt_at`; SENT and FAILED are final."""

    PENDING = "PENDING"
    SENT = "SENT"
    RETRY = "RETRY"
    FAILED = "FAILED"


DUE_STATUSES = frozenset({DeliveryStatus.PENDING, DeliveryStatus.RETRY})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """Exponential backoff: after failed attempt n the next one waits backoff * 2**(n-1),
    capped; after `max_attempts` attempts (or a permanent error) the delivery FAILED."""

    max_attempts: int
    backoff_seconds: float
    max_backoff_seconds: float = 3600.0

    def delay_after(self, attempt: int) -> float:
        if attempt < 1:
            raise ValueError("attempts are counted from 1")
        # The exponent is bounded so a huge attempt number cannot overflow a float.
        return float(
            min(self.backoff_seconds * 2 ** min(attempt - 1, 60), self.max_backoff_seconds)
        )

    def schedule(self) -> list[float]:
        """The waits between attempts: max_attempts - 1 of them."""
        return [self.delay_after(n) for n in range(1, self.max_attempts)]

    def after_failure(self, attempts: int, *, permanent: bool = False) -> DeliveryStatus:
        if permanent or attempts >= self.max_attempts:
            return DeliveryStatus.FAILED
        return DeliveryStatus.RETRY
