"""The payment intent: its states, the actions that move it, and its money. No I/O here.

Money is always an integer of minor units (fen, cents) with its ISO 4217 code.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from chassis.rules import RuleError


class IntentStatus(StrEnum):
    PENDING = "PENDING"
    AUTHORIZED = "AUTHORIZED"
    CAPTURED = "CAPTURED"
    VOIDED = "VOIDED"
    FAILED = "FAILED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class Action(StrEnum):
    AUTHORIZE = "AUTHORIZE"
    FAIL = "FAIL"
    CAPTURE = "CAPTURE"
    VOID = "VOID"
    REFUND = "REFUND"


class LedgerKind(StrEnum):
    """Money movements; every one is a ledger row."""

    AUTHORIZE = "AUTHORIZE"
    CAPTURE = "CAPTURE"
    VOID = "VOID"
    REFUND = "REFUND"


class FailureReason(StrEnum):
    """The `reason` of `payment.payment.failed` (and of the order's rejection)."""

    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    RISK_REJECTED = "RISK_REJECTED"
    PAYMENT_FAILED = "PAYMENT_FAILED"


# The reason kept on the final intent (VOIDED, amount 0) that a cancellation leaves when it
# overtakes the order's payment request: nothing was asked of the provider, nothing taken.
ENDED_BEFORE_REQUEST = "ORDER_ENDED_FIRST"

# The intent lifecycle as a table: (from, action) -> to. A refund that leaves part of the
# captured amount unrefunded ends in PARTIALLY_REFUNDED instead (see `Intent.refund`).
TRANSITIONS: dict[tuple[IntentStatus, Action], IntentStatus] = {
    (IntentStatus.PENDING, Action.AUTHORIZE): IntentStatus.AUTHORIZED,
    (IntentStatus.PENDING, Action.FAIL): IntentStatus.FAILED,
    (IntentStatus.AUTHORIZED, Action.CAPTURE): IntentStatus.CAPTURED,
    (IntentStatus.AUTHORIZED, Action.VOID): IntentStatus.VOIDED,
    (IntentStatus.CAPTURED, Action.REFUND): IntentStatus.REFUNDED,
    (IntentStatus.PARTIALLY_REFUNDED, Action.REFUND): IntentStatus.REFUNDED,
}

# States in which an action has already had its effect: asking again is a no-op, which
# makes every handler idempotent by state and not only through the inbox.
ALREADY_DONE: dict[Action, frozenset[IntentStatus]] = {
    Action.CAPTURE: frozenset(
        {IntentStatus.CAPTURED, IntentStatus.PARTIALLY_REFUNDED, IntentStatus.REFUNDED}
    ),
    Action.VOID: frozenset({IntentStatus.VOIDED}),
    Action.REFUND: frozenset({IntentStatus.REFUNDED}),
}

# States in which an action can no longer apply though nothing is wrong: the payment ended
# first. Two order replicas may deliver `cancelled` (the void) before `confirmed`; that
# capture is dropped, not refused (a refusal is retried, then dead-lettered). Not FAILED: no
# order is confirmed after its payment failed, so a capture of one is refused, for operators
# to see.
ENDED_FIRST: dict[Action, frozenset[IntentStatus]] = {
    Action.CAPTURE: frozenset({IntentStatus.VOIDED}),
}


def next_status(current: IntentStatus, action: Action) -> IntentStatus:
    target = TRANSITIONS.get((current, action))
    if target is None:
        raise RuleError(
            "invalid-transition", f"cannot {action.value.lower()} a payment that is {current}"
        )
    return target


def already_done(current: IntentStatus, action: Action) -> bool:
    return current in ALREADY_DONE.get(action, frozenset())


def ended_first(current: IntentStatus, action: Action) -> bool:
    """The payment ended before `action` was asked for: it is moot, not an error."""
    return current in ENDED_FIRST.get(action, frozenset())


def compensation(current: IntentStatus, *, order_was_cancelled: bool) -> Action | None:
    """What an order that ended without completing asks of its payment.

    A cancelled order releases the money whatever the step: an authorisation is voided, a
    capture refunded (what is left of it). A rejected order can only have been authorised
    (capture follows confirmation), so only a void applies. Nothing else needs undoing.
    """
    if current is IntentStatus.AUTHORIZED:
        return Action.VOID
    if order_was_cancelled and current in (
        IntentStatus.CAPTURED,
        IntentStatus.PARTIALLY_REFUNDED,
    ):
        return Action.REFUND
    return None


@dataclass(frozen=True, slots=True)
class Intent:
    """The money state of one payment intent; every change returns a new value.

    Invariants (also CHECK constraints in the database): 0 <= refunded <= captured <= amount.
    """

    status: IntentStatus
    amount: int  # authorised (or to be authorised)
    captured: int = 0
    refunded: int = 0

    def __post_init__(self) -> None:
        for name in ("amount", "captured", "refunded"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise RuleError("invalid-amount", f"{name} must be integer minor units")
        if not 0 <= self.refunded <= self.captured <= self.amount:
            raise RuleError(
                "invalid-amount", "amounts must satisfy 0 <= refunded <= captured <= amount"
            )

    def _to(self, action: Action, **changes: int) -> Intent:
        return Intent(
            status=next_status(self.status, action),
            amount=self.amount,
            captured=changes.get("captured", self.captured),
            refunded=changes.get("refunded", self.refunded),
        )

    def authorize(self) -> Intent:
        return self._to(Action.AUTHORIZE)

    def fail(self) -> Intent:
        return self._to(Action.FAIL)

    def capture(self) -> Intent:
        """Captures the full authorised amount (one capture per intent)."""
        return self._to(Action.CAPTURE, captured=self.amount)

    def void(self) -> Intent:
        return self._to(Action.VOID)

    @property
    def refundable(self) -> int:
        return self.captured - self.refunded

    def refund(self, amount: int) -> Intent:
        if amount <= 0 or amount > self.refundable:
            raise RuleError(
                "invalid-refund",
                f"a refund must be between 1 and {self.refundable} (captured minus refunded)",
            )
        after = self._to(Action.REFUND, refunded=self.refunded + amount)
        if after.refunded < after.captured:
            return Intent(
                IntentStatus.PARTIALLY_REFUNDED, self.amount, self.captured, after.refunded
            )
        return after
