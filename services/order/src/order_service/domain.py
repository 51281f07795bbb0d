"""Order rules: pricing and the saga as an explicit state machine. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class OrderStatus(StrEnum):
    PENDING = "PENDING"
    CONFIRMED = "CONFIRMED"
    REJECTED = "REJECTED"
    CANCELLED = "CANCELLED"
    SHIPPED = "SHIPPED"
    DELIVERED = "DELIVERED"
    COMPLETED = "COMPLETED"
    REFUNDED = "REFUNDED"


class SagaStep(StrEnum):
    """Where a PENDING order waits; DONE once the saga reached a terminal outcome."""

    AWAITING_STOCK = "AWAITING_STOCK"
    AWAITING_PAYMENT = "AWAITING_PAYMENT"
    DONE = "DONE"


class Trigger(StrEnum):
    STOCK_RESERVED = "STOCK_RESERVED"
    STOCK_REJECTED = "STOCK_REJECTED"
    PAYMENT_AUTHORIZED = "PAYMENT_AUTHORIZED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    TIMEOUT = "TIMEOUT"
    CUSTOMER_CANCEL = "CUSTOMER_CANCEL"


class Reason(StrEnum):
    OUT_OF_STOCK = "OUT_OF_STOCK"
    PAYMENT_DECLINED = "PAYMENT_DECLINED"
    INSUFFICIENT_FUNDS = "INSUFFICIENT_FUNDS"
    RISK_REJECTED = "RISK_REJECTED"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    TIMEOUT = "TIMEOUT"
    CANCELLED_BY_CUSTOMER = "CANCELLED_BY_CUSTOMER"


PENDING_STEPS = (SagaStep.AWAITING_STOCK, SagaStep.AWAITING_PAYMENT)
State = tuple[OrderStatus, SagaStep]

# The saga as a table: (status, step, trigger) -> (status, step). Anything absent is refused.
TRANSITIONS: dict[tuple[OrderStatus, SagaStep, Trigger], State] = {
    (OrderStatus.PENDING, SagaStep.AWAITING_STOCK, Trigger.STOCK_RESERVED): (
        OrderStatus.PENDING,
        SagaStep.AWAITING_PAYMENT,
    ),
    (OrderStatus.PENDING, SagaStep.AWAITING_STOCK, Trigger.STOCK_REJECTED): (
        OrderStatus.REJECTED,
        SagaStep.DONE,
    ),
    (OrderStatus.PENDING, SagaStep.AWAITING_PAYMENT, Trigger.PAYMENT_AUTHORIZED): (
        OrderStatus.CONFIRMED,
        SagaStep.DONE,
    ),
    (OrderStatus.PENDING, SagaStep.AWAITING_PAYMENT, Trigger.PAYMENT_FAILED): (
        OrderStatus.REJECTED,
        SagaStep.DONE,
    ),
    **{
        (OrderStatus.PENDING, step, trigger): (OrderStatus.CANCELLED, SagaStep.DONE)
        for step in PENDING_STEPS
        for trigger in (Trigger.TIMEOUT, Trigger.CUSTOMER_CANCEL)
    },
    (OrderStatus.CONFIRMED, SagaStep.DONE, Trigger.CUSTOMER_CANCEL): (
        OrderStatus.CANCELLED,
        SagaStep.DONE,
    ),
}

PAYMENT_REASONS = {
    r.value
    for r in (
        Reason.PAYMENT_DECLINED,
        Reason.INSUFFICIENT_FUNDS,
        Reason.RISK_REJECTED,
        Reason.PAYMENT_FAILED,
    )
}


class OrderRuleError(Exception):
    def __init__(self, code: str, detail: str) -> None:
        super().__init__(detail)
        self.code = code
        self.detail = detail


def next_state(status: OrderStatus, step: SagaStep, trigger: Trigger) -> State | None:
    """The state after `trigger`, or None when the trigger does not apply (a late or duplicate
    answer, e.g. a payment authorised after the order timed out: its compensation is the
    other services' reaction to the cancellation)."""
    return TRANSITIONS.get((status, step, trigger))


def payment_failure_reason(reason: str) -> Reason:
    return Reason(reason) if reason in PAYMENT_REASONS else Reason.PAYMENT_FAILED


def cancellation(status: OrderStatus, step: SagaStep) -> State:
    """A customer's cancel: allowed before shipment only."""
    target = next_state(status, step, Trigger.CUSTOMER_CANCEL)
    if target is None:
        raise OrderRuleError(
            "not-cancellable", f"an order that is {status.value} cannot be cancelled"
        )
    return target


@dataclass(frozen=True, slots=True)
class CatalogPrice:
    sku: str
    product_id: str
    name: str
    amount: int
    currency: str
    published: bool


@dataclass(frozen=True, slots=True)
class PricedLine:
    sku: str
    product_id: str
    name: str
    quantity: int
    unit_amount: int

    @property
    def line_amount(self) -> int:
        return self.unit_amount * self.quantity


@dataclass(frozen=True, slots=True)
class Quote:
    lines: tuple[PricedLine, ...]
    currency: str
    subtotal: int
    discount: int  # seam for member price, coupon and points (membership issue)

    @property
    def total(self) -> int:
        return self.subtotal - self.discount


def merge_quantities(items: list[tuple[str, int]]) -> list[tuple[str, int]]:
    """The same SKU twice in a request is one line with the summed quantity."""
    merged: dict[str, int] = {}
    for sku, quantity in items:
        merged[sku] = merged.get(sku, 0) + quantity
    return list(merged.items())


def price_order(
    items: list[tuple[str, int]], prices: dict[str, CatalogPrice], currency: str
) -> Quote:
    """Price each line from the catalog read model. Unknown or unpublished SKUs and prices
    in another currency are refused: the customer must see the price they pay."""
    lines = []
    for sku, quantity in merge_quantities(items):
        price = prices.get(sku)
        if price is None or not price.published:
            raise OrderRuleError("unknown-sku", f"SKU {sku} is not for sale")
        if price.currency != currency:
            raise OrderRuleError(
                "currency-mismatch", f"SKU {sku} is priced in {price.currency}, not {currency}"
            )
        lines.append(PricedLine(sku, price.product_id, price.name, quantity, price.amount))
    subtotal = sum(line.line_amount for line in lines)
    return Quote(lines=tuple(lines), currency=currency, subtotal=subtotal, discount=0)
