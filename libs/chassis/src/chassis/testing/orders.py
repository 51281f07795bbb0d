"""Order events as the order service publishes them, for the tests and benches of the services
that consume them: what a test does not look at has a plain default (member "m", CNY, a line
at 10.00 a unit, totals that add up).

    placed = order_placed(order_id, [order_line("TEA-250", 2)], member_id=member_id)
    phases = [("commit (confirmed)", [order_confirmed(o) for o in orders])]
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from shared_events import order as events  # the order service's contract
from shared_events.money import Money

CURRENCY = "CNY"
UNIT_PRICE = 1_000  # minor units


def money(amount: int, currency: str = CURRENCY) -> Money:
    return Money(amount=amount, currency=currency)


def order_line(
    sku: str,
    quantity: int = 1,
    unit_price: int = UNIT_PRICE,
    *,
    product_id: str | None = None,
    name: str | None = None,
    currency: str = CURRENCY,
) -> events.OrderLine:
    """A line of `quantity` units of `sku`; its product is `p-<sku>`, named `Product <sku>`,
    unless given."""
    return events.OrderLine(
        sku=sku,
        product_id=product_id or f"p-{sku}",
        name=name or f"Product {sku}",
        quantity=quantity,
        unit_price=money(unit_price, currency),
        line_total=money(unit_price * quantity, currency),
    )


def order_placed(
    order_id: str,
    items: Sequence[events.OrderLine] = (),
    *,
    member_id: str = "m",
    subtotal: int | None = None,
    discount: int = 0,
    currency: str = CURRENCY,
    coupon_code: str | None = None,
    points: int = 0,
    placed_at: datetime | None = None,
) -> events.OrderPlacedV1:
    """The order of `items`, placed now: the subtotal is the lines' (or `subtotal`, for an
    order whose lines a test leaves out), the total the subtotal less `discount`."""
    if subtotal is None:
        subtotal = sum(item.line_total.amount for item in items)
    return events.OrderPlacedV1(
        order_id=order_id,
        member_id=member_id,
        currency=currency,
        items=list(items),
        subtotal=money(subtotal, currency),
        discount=money(discount, currency),
        total=money(subtotal - discount, currency),
        placed_at=placed_at or datetime.now(UTC),
        coupon_code=coupon_code,
        points=points,
    )


def order_confirmed(
    order_id: str, *, member_id: str = "m", total: int = UNIT_PRICE
) -> events.OrderConfirmedV1:
    return events.OrderConfirmedV1(order_id=order_id, member_id=member_id, total=money(total))


def order_rejected(
    order_id: str, *, member_id: str = "m", reason: str = "X"
) -> events.OrderRejectedV1:
    return events.OrderRejectedV1(order_id=order_id, member_id=member_id, reason=reason)


def order_cancelled(
    order_id: str, *, member_id: str = "m", reason: str = "R", was_confirmed: bool = True
) -> events.OrderCancelledV1:
    return events.OrderCancelledV1(
        order_id=order_id, member_id=member_id, reason=reason, was_confirmed=was_confirmed
    )


def order_returned(
    order_id: str, *, member_id: str = "m", reason: str = "R", total: int = UNIT_PRICE
) -> events.OrderReturnedV1:
    return events.OrderReturnedV1(
        order_id=order_id, member_id=member_id, reason=reason, total=money(total)
    )
