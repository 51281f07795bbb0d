"""A delivery's states and when it is given up. No I/O here."""

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
# Kept from a dispatch round's lease to record its outcomes: no send runs into it. Also how
# long a stop (shutdown) waits for a round it interrupted to be recorded.
RECORD_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often a channel is tried: after `max_attempts` attempts (or a permanent error) the
    delivery is FAILED. The wait after failed attempt n is backoff * 2**(n-1), at most
    `max_backoff_seconds` (`chassis.retry.exponential_delay`, applied in service/dispatch.py)."""

    max_attempts: int
    backoff_seconds: float
    max_backoff_seconds: float = 3600.0

    def after_failure(self, attempts: int, *, permanent: bool = False) -> DeliveryStatus:
        if permanent or attempts >= self.max_attempts:
            return DeliveryStatus.FAILED
        return DeliveryStatus.RETRY
