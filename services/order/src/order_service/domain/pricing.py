"""Pricing an order: list prices, member price, one coupon, points. No I/O here."""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime

from chassis.rules import RuleError


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
class Coupon:
    """The order service's view of a coupon (from `membership.coupon.issued`); membership
    decides for good when it holds it."""

    code: str
    member_id: str
    amount_off: int
    min_spend: int
    currency: str
    valid_from: datetime  # aware, like every timestamp the domain compares
    valid_until: datetime


@dataclass(frozen=True, slots=True)
class Benefits:
    """What the member asks for and is entitled to."""

    tier_discount_percent: int = 0
    coupon: Coupon | None = None
    points: int = 0


@dataclass(frozen=True, slots=True)
class PricingRules:
    points_per_yuan: int = 100  # 100 points = 1.00 CNY off
    points_max_share_percent: int = 50  # points pay at most half of what is left to pay
    benefits_currency: str = "CNY"  # coupons and points are in CNY


@dataclass(frozen=True, slots=True)
class Quote:
    lines: tuple[PricedLine, ...]
    currency: str
    subtotal: int
    tier_discount: int = 0
    coupon_code: str | None = None
    coupon_discount: int = 0
    points: int = 0
    points_discount: int = 0

    @property
    def discount(self) -> int:
        return self.tier_discount + self.coupon_discount + self.points_discount

    @property
    def total(self) -> int:
        return self.subtotal - self.discount


def percent_of(amount: int, percent: int) -> int:
    """`percent` % of `amount` minor units, rounded half up to the minor unit."""
    return (amount * percent + 50) // 100


def apply_benefits(
    quote: Quote, benefits: Benefits, rules: PricingRules, *, now: datetime, member_id: str
) -> Quote:
    """The documented order of application: member price (tier % off the subtotal), then one
    coupon (fixed amount off when what is left reaches its minimum spend), then points (1 point
    per 1/points_per_yuan CNY, at most `points_max_share_percent` % of what is left). Each step
    works on what the previous left; the total never goes below zero."""
    coupon = benefits.coupon
    # Whose the coupon is comes before any other rule: another member's code is refused as an
    # unknown one is (read_model.benefits_for), whatever the order, so no code's existence
    # shows through another refusal.
    if coupon is not None and (
        coupon.member_id != member_id or not coupon.valid_from <= now <= coupon.valid_until
    ):
        raise RuleError("coupon-invalid", f"coupon {coupon.code} cannot be used")
    uses = coupon is not None or benefits.points > 0
    if uses and quote.currency != rules.benefits_currency:
        raise RuleError(
            "benefits-currency", f"coupons and points apply to {rules.benefits_currency} orders"
        )
    tier = percent_of(quote.subtotal, benefits.tier_discount_percent)
    left = quote.subtotal - tier
    coupon_discount, code = 0, None
    if coupon is not None:
        if left < coupon.min_spend:
            raise RuleError(
                "coupon-invalid", f"coupon {coupon.code} needs a spend of {coupon.min_spend}"
            )
        coupon_discount, code = min(coupon.amount_off, left), coupon.code
        left -= coupon_discount
    points_discount = 0
    if benefits.points:
        points_discount = benefits.points * 100 // rules.points_per_yuan
        cap = left * rules.points_max_share_percent // 100
        if points_discount > cap:
            raise RuleError(
                "too-many-points",
                f"points may pay at most {rules.points_max_share_percent} % "
                f"({cap * rules.points_per_yuan // 100} points) of this order",
            )
    return replace(
        quote,
        tier_discount=tier,
        coupon_code=code,
        coupon_discount=coupon_discount,
        points=benefits.points,
        points_discount=points_discount,
    )


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
            raise RuleError("unknown-sku", f"SKU {sku} is not for sale")
        if price.currency != currency:
            raise RuleError(
                "currency-mismatch", f"SKU {sku} is priced in {price.currency}, not {currency}"
            )
        lines.append(PricedLine(sku, price.product_id, price.name, quantity, price.amount))
    subtotal = sum(line.line_amount for line in lines)
    return Quote(lines=tuple(lines), currency=currency, subtotal=subtotal)
