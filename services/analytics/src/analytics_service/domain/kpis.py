"""The KPI formulas of docs/kpis.md, over plain values: facts in, figures out. A window is a
half-open UTC interval; the caller asks once per bucket and once for the whole period, so a
distinct count (paying members, active members) is distinct over what it is reported for.

Money is CNY fen (converted when the fact was stored); rates are fractions rounded to 4 places,
None when their denominator is zero (no figure rather than a misleading 0)."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum
from fractions import Fraction

from analytics_service.domain.money import allocate
from analytics_service.domain.period import Window

UNCATEGORISED = "uncategorised"
DEFAULT_TIER = "BRONZE"  # membership's tier of a member who never changed tier


@dataclass(frozen=True)
class OrderFact:
    """What the events said about one order; a column is None until its event arrived."""

    order_id: str
    member_id: str | None = None
    total_cny: int = 0
    placed_at: datetime | None = None
    confirmed_at: datetime | None = None
    rejected_at: datetime | None = None
    reject_reason: str | None = None
    cancelled_at: datetime | None = None
    cancel_reason: str | None = None
    returned_at: datetime | None = None

    @property
    def kept(self) -> bool:
        """Paid and neither cancelled nor returned (as known now)."""
        return self.confirmed_at is not None and not self.cancelled_at and not self.returned_at


@dataclass(frozen=True)
class LineFact:
    """One SKU of an order: its units and its share of the order's total, in CNY fen."""

    order_id: str
    sku: str
    quantity: int
    amount_cny: int
    category: str = UNCATEGORISED


class MoneyBackKind(StrEnum):
    REFUND = "REFUND"
    VOID = "VOID"


@dataclass(frozen=True)
class MoneyBack:
    """A refund or a void of one order, and whether that order had been confirmed."""

    order_id: str
    kind: MoneyBackKind
    amount_cny: int
    at: datetime
    order_confirmed: bool

    @property
    def counts(self) -> bool:
        """A refund gives back captured money; a void only takes back GMV when the order was
        confirmed (a void of an order never confirmed was never in GMV)."""
        return self.kind is MoneyBackKind.REFUND or self.order_confirmed


@dataclass(frozen=True)
class MemberFact:
    member_id: str
    registered_at: datetime | None


@dataclass(frozen=True)
class CouponFact:
    code: str
    issued_at: datetime | None
    redeemed: bool  # held by an order now (redeemed and not given back)


class PointsKind(StrEnum):
    EARNED = "EARNED"
    REDEEMED = "REDEEMED"
    RESTORED = "RESTORED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class PointsMove:
    kind: PointsKind
    points: int
    at: datetime


@dataclass(frozen=True)
class StockFact:
    """A SKU's stock as analytics knows it (docs/kpis.md, "Stock on hand")."""

    sku: str
    on_hand: int
    safety_stock: int | None
    first_seen: datetime
    last_sold_at: datetime | None
    category: str = UNCATEGORISED


def ratio(numerator: int, denominator: int) -> float | None:
    if denominator == 0:
        return None
    return round(numerator / denominator, 4)


def mean_fen(amount: int, count: int) -> int | None:
    """`amount / count` in whole fen, half to even; None for no count."""
    if count == 0:
        return None
    rounded: int = round(Fraction(amount, count))
    return rounded


# ---- orders and money ---------------------------------------------------------------------


def paid(orders: Iterable[OrderFact], window: Window) -> list[OrderFact]:
    return [o for o in orders if window.holds(o.confirmed_at)]


def gmv(orders: Iterable[OrderFact], window: Window) -> int:
    """Σ total of the orders confirmed in the window, later cancellations and returns included."""
    return sum(o.total_cny for o in paid(orders, window))


def refund_amount(backs: Iterable[MoneyBack], window: Window) -> int:
    return sum(b.amount_cny for b in backs if b.counts and window.holds(b.at))


def net_gmv(gross: int, refunds: int) -> int:
    return gross - refunds


def orders_placed(orders: Iterable[OrderFact], window: Window) -> int:
    return sum(1 for o in orders if window.holds(o.placed_at))


def orders_paid(orders: Iterable[OrderFact], window: Window) -> int:
    return len(paid(orders, window))


def paying_members(orders: Iterable[OrderFact], window: Window) -> int:
    return len({o.member_id for o in paid(orders, window) if o.member_id})


def active_members(orders: Iterable[OrderFact], window: Window) -> int:
    """Members with at least one order placed in the window, whatever became of it."""
    return len({o.member_id for o in orders if o.member_id and window.holds(o.placed_at)})


def aov(gross: int, paid_count: int) -> int | None:
    """客单价: GMV per paid order."""
    return mean_fen(gross, paid_count)


def repurchase_rate(orders: Iterable[OrderFact], window: Window) -> float | None:
    """Of the members with a kept paid order in the window, the share with two or more."""
    per_member = Counter(o.member_id for o in paid(orders, window) if o.kept and o.member_id)
    return ratio(sum(1 for n in per_member.values() if n >= 2), len(per_member))


def returned(orders: Iterable[OrderFact], window: Window) -> list[OrderFact]:
    return [o for o in orders if window.holds(o.returned_at)]


def return_rate(orders: Sequence[OrderFact], window: Window) -> float | None:
    """Orders returned in the window per order paid in the window (by count)."""
    return ratio(len(returned(orders, window)), orders_paid(orders, window))


def return_amount_rate(orders: Sequence[OrderFact], window: Window) -> float | None:
    return ratio(sum(o.total_cny for o in returned(orders, window)), gmv(orders, window))


@dataclass(frozen=True)
class StatusFlow:
    placed: int
    confirmed: int
    rejected: dict[str, int]
    cancelled: dict[str, int]
    cancelled_after_payment: int
    returned: int


def status_flow(orders: Iterable[OrderFact], window: Window) -> StatusFlow:
    """Each order event counted on its own day: placed, confirmed, rejected per reason,
    cancelled per reason (and how many of those had been paid), returned."""
    placed = confirmed = after_payment = returns = 0
    rejected: Counter[str] = Counter()
    cancelled: Counter[str] = Counter()
    for o in orders:
        placed += window.holds(o.placed_at)
        confirmed += window.holds(o.confirmed_at)
        returns += window.holds(o.returned_at)
        if window.holds(o.rejected_at):
            rejected[o.reject_reason or "UNKNOWN"] += 1
        if window.holds(o.cancelled_at):
            cancelled[o.cancel_reason or "UNKNOWN"] += 1
            after_payment += o.confirmed_at is not None
    return StatusFlow(
        placed,
        confirmed,
        dict(sorted(rejected.items())),
        dict(sorted(cancelled.items())),
        after_payment,
        returns,
    )


# ---- the funnel ---------------------------------------------------------------------------


@dataclass(frozen=True)
class FunnelStep:
    step: str
    count: int | None  # None: unknown (no event carries this step)
    rate: float | None  # this step / the step before


def funnel(
    views: int | None, cart_adds: int | None, placed: int, paid_count: int
) -> list[FunnelStep]:
    """views -> cart adds -> orders placed -> orders paid, each rate against the step before
    (None where either count is unknown or the one before is zero)."""
    counts = [
        ("views", views),
        ("cart_adds", cart_adds),
        ("orders_placed", placed),
        ("orders_paid", paid_count),
    ]
    steps, before = [], None
    for name, count in counts:
        rate: float | None = None
        if count is not None and before is not None:
            rate = ratio(count, before)
        steps.append(FunnelStep(name, count, rate))
        before = count
    return steps


@dataclass(frozen=True)
class CategoryFunnel:
    category: str
    steps: list[FunnelStep]
    units_added: int


def funnel_by_category(
    views: Mapping[str, int],
    cart_adds: Mapping[str, tuple[int, int]],
    orders: Iterable[OrderFact],
    lines: Mapping[str, Sequence[LineFact]],
    window: Window,
) -> list[CategoryFunnel]:
    """The funnel per category: views of its products, cart adds (and units added) of its
    SKUs, orders placed and paid in the window with a line in it. An order in two categories
    counts in each, as in `by_category`, so the categories' orders may add up to more than
    the period's."""
    placed: Counter[str] = Counter()
    paid_count: Counter[str] = Counter()
    for order in orders:
        categories = {line.category for line in lines.get(order.order_id, ())}
        for category in categories:
            placed[category] += window.holds(order.placed_at)
            paid_count[category] += window.holds(order.confirmed_at)
    funnels = []
    for name in sorted({*views, *cart_adds, *placed, *paid_count}):
        adds, units = cart_adds.get(name, (0, 0))
        counts = (views.get(name, 0), adds, placed[name], paid_count[name])
        if any(counts):  # a category with nothing in the window is left out
            funnels.append(CategoryFunnel(name, funnel(*counts), units))
    return funnels


# ---- members, coupons, points -------------------------------------------------------------


def new_members(members: Iterable[MemberFact], window: Window) -> int:
    return sum(1 for m in members if window.holds(m.registered_at))


def tier_distribution(counts: Iterable[tuple[str | None, int]]) -> dict[str, int]:
    """Members per tier now, from (tier, members) pairs; a registered member who never changed
    tier (tier None) is BRONZE."""
    tiers: Counter[str] = Counter()
    for tier, members in counts:
        tiers[tier or DEFAULT_TIER] += members
    return dict(sorted(tiers.items()))


@dataclass(frozen=True)
class CouponUse:
    issued: int
    redeemed: int
    rate: float | None


def coupon_redemption(coupons: Iterable[CouponFact], window: Window) -> CouponUse:
    """Of the coupons issued in the window, how many an order holds now."""
    issued = [c for c in coupons if window.holds(c.issued_at)]
    used = sum(1 for c in issued if c.redeemed)
    return CouponUse(len(issued), used, ratio(used, len(issued)))


@dataclass(frozen=True)
class PointsFigures:
    issued: int
    redeemed: int  # redeemed minus given back, each on its own day
    expired: int


def points(moves: Iterable[PointsMove], window: Window) -> PointsFigures:
    sums: Counter[PointsKind] = Counter()
    for move in moves:
        if window.holds(move.at):
            sums[move.kind] += move.points
    return PointsFigures(
        sums[PointsKind.EARNED],
        sums[PointsKind.REDEEMED] - sums[PointsKind.RESTORED],
        sums[PointsKind.EXPIRED],
    )


# ---- categories ---------------------------------------------------------------------------


@dataclass
class CategoryFigures:
    category: str
    gmv: int = 0
    refund_amount: int = 0
    orders_paid: int = 0
    units_sold: int = 0
    returns: int = 0

    @property
    def net_gmv(self) -> int:
        return net_gmv(self.gmv, self.refund_amount)


def by_category(
    orders: Iterable[OrderFact],
    lines: Mapping[str, Sequence[LineFact]],
    backs: Iterable[MoneyBack],
    window: Window,
) -> list[CategoryFigures]:
    """GMV, refunds, paid orders, units and returns per category. An order in two categories
    is a paid order of each; a refund is split over the order's lines as its total was."""
    figures: dict[str, CategoryFigures] = {}

    def of(category: str) -> CategoryFigures:
        return figures.setdefault(category, CategoryFigures(category))

    orders = list(orders)
    for order in paid(orders, window):
        for category in {line.category for line in lines.get(order.order_id, ())}:
            of(category).orders_paid += 1
        for line in lines.get(order.order_id, ()):
            of(line.category).gmv += line.amount_cny
            of(line.category).units_sold += line.quantity
    for order in returned(orders, window):
        for category in {line.category for line in lines.get(order.order_id, ())}:
            of(category).returns += 1
    for back in backs:
        if not (back.counts and window.holds(back.at)):
            continue
        order_lines = lines.get(back.order_id, ())
        if not order_lines:
            of(UNCATEGORISED).refund_amount += back.amount_cny
            continue
        shares = allocate(back.amount_cny, [line.amount_cny for line in order_lines])
        for line, share in zip(order_lines, shares, strict=True):
            of(line.category).refund_amount += share
    return [figures[name] for name in sorted(figures)]


# ---- stock --------------------------------------------------------------------------------


def sell_through(units_sold: int, on_hand: int) -> float | None:
    """售罄率: sold / (sold + on hand)."""
    return ratio(units_sold, units_sold + max(on_hand, 0))


def turnover_days(on_hand: int, units_sold: int, days: int) -> float | None:
    """库存周转天数 in units: on hand / average units sold per day; None when none sold."""
    if units_sold <= 0:
        return None
    return round(max(on_hand, 0) * days / units_sold, 1)


@dataclass(frozen=True)
class LowStock:
    sku: str
    category: str
    on_hand: int
    safety_stock: int


def low_stock(stocks: Iterable[StockFact], default_safety_stock: int) -> list[LowStock]:
    """SKUs at or under their safety stock, the furthest under first."""
    low = [
        LowStock(s.sku, s.category, s.on_hand, safety)
        for s in stocks
        if s.on_hand
        <= (safety := default_safety_stock if s.safety_stock is None else s.safety_stock)
    ]
    return sorted(low, key=lambda s: (s.on_hand - s.safety_stock, s.sku))


@dataclass(frozen=True)
class SlowMoving:
    sku: str
    category: str
    on_hand: int
    last_sold_at: datetime | None
    days_without_sale: int


def slow_moving(stocks: Iterable[StockFact], as_of: datetime, days: int) -> list[SlowMoving]:
    """SKUs with units on hand and no sale in the `days` before `as_of` (a SKU never sold
    counts from when analytics first saw it), the longest without a sale first."""
    cutoff = as_of - timedelta(days=days)
    slow = []
    for s in stocks:
        since = s.last_sold_at or s.first_seen
        if s.on_hand > 0 and since <= cutoff:
            slow.append(
                SlowMoving(s.sku, s.category, s.on_hand, s.last_sold_at, (as_of - since).days)
            )
    return sorted(slow, key=lambda s: (-s.days_without_sale, s.sku))


# ---- one SKU ------------------------------------------------------------------------------


@dataclass(frozen=True)
class SkuDay:
    """The per-SKU-per-day projection: units of orders paid, returned, and their CNY; the
    views of the SKU's product, the SKU's cart adds and units added, and the orders with a
    line of it placed and paid that day."""

    day: date
    units_sold: int
    units_returned: int
    gmv: int
    views: int = 0
    cart_adds: int = 0
    units_added: int = 0
    orders_placed: int = 0
    orders_paid: int = 0


@dataclass(frozen=True)
class SkuFigures:
    units_sold: int
    units_returned: int
    gmv: int
    sell_through: float | None
    turnover_days: float | None
    days: list[SkuDay] = field(default_factory=list)
    funnel: list[FunnelStep] = field(default_factory=list)
    units_added: int = 0


def sku_figures(days: Iterable[SkuDay], first: date, last: date, on_hand: int) -> SkuFigures:
    """A SKU over the days `first..last` (both included): every day present in the series,
    zeros where nothing happened."""
    known = {d.day: d for d in days if first <= d.day <= last}
    span = (last - first).days + 1
    series = [
        known.get(first + timedelta(n), SkuDay(first + timedelta(n), 0, 0, 0)) for n in range(span)
    ]
    sold = sum(d.units_sold for d in series)
    return SkuFigures(
        units_sold=sold,
        units_returned=sum(d.units_returned for d in series),
        gmv=sum(d.gmv for d in series),
        sell_through=sell_through(sold, on_hand),
        turnover_days=turnover_days(on_hand, sold, span),
        days=series,
        funnel=funnel(
            sum(d.views for d in series),
            sum(d.cart_adds for d in series),
            sum(d.orders_placed for d in series),
            sum(d.orders_paid for d in series),
        ),
        units_added=sum(d.units_added for d in series),
    )


def per_day(instants: Iterable[datetime | None], zone: tzinfo) -> Counter[date]:
    """How many of the instants fall on each reporting day (None: not happened)."""
    return Counter(at.astimezone(zone).date() for at in instants if at is not None)


def group_lines(lines: Iterable[LineFact]) -> dict[str, list[LineFact]]:
    grouped: dict[str, list[LineFact]] = defaultdict(list)
    for line in lines:
        grouped[line.order_id].append(line)
    return dict(grouped)


@dataclass(frozen=True)
class Facts:
    """Everything a period's figures are computed from (service/reports.py loads it)."""

    orders: Sequence[OrderFact]
    backs: Sequence[MoneyBack] = ()
    members: Sequence[MemberFact] = ()
    coupons: Sequence[CouponFact] = ()
    points: Sequence[PointsMove] = ()


@dataclass(frozen=True)
class Figures:
    """Every figure of docs/kpis.md for one window (a bucket or the whole period)."""

    gmv: int
    net_gmv: int
    refund_amount: int
    orders_placed: int
    orders_paid: int
    placed_to_paid_rate: float | None
    paying_members: int
    aov: int | None
    gmv_per_paying_member: int | None
    active_members: int
    new_members: int
    repurchase_rate: float | None
    returns: int
    return_rate: float | None
    return_amount_rate: float | None
    coupons_issued: int
    coupons_redeemed: int
    coupon_redemption_rate: float | None
    points_issued: int
    points_redeemed: int
    points_expired: int


def figures(facts: Facts, window: Window) -> Figures:
    gross = gmv(facts.orders, window)
    refunds = refund_amount(facts.backs, window)
    placed = orders_placed(facts.orders, window)
    paid_count = orders_paid(facts.orders, window)
    payers = paying_members(facts.orders, window)
    coupon_use = coupon_redemption(facts.coupons, window)
    points_use = points(facts.points, window)
    return Figures(
        gmv=gross,
        net_gmv=net_gmv(gross, refunds),
        refund_amount=refunds,
        orders_placed=placed,
        orders_paid=paid_count,
        placed_to_paid_rate=ratio(paid_count, placed),
        paying_members=payers,
        aov=aov(gross, paid_count),
        gmv_per_paying_member=mean_fen(gross, payers),
        active_members=active_members(facts.orders, window),
        new_members=new_members(facts.members, window),
        repurchase_rate=repurchase_rate(facts.orders, window),
        returns=len(returned(facts.orders, window)),
        return_rate=return_rate(facts.orders, window),
        return_amount_rate=return_amount_rate(facts.orders, window),
        coupons_issued=coupon_use.issued,
        coupons_redeemed=coupon_use.redeemed,
        coupon_redemption_rate=coupon_use.rate,
        points_issued=points_use.issued,
        points_redeemed=points_use.redeemed,
        points_expired=points_use.expired,
    )


def split(facts: Facts, windows: Sequence[Window]) -> list[Facts]:
    """The facts of each window (contiguous, in order), each fact in every window one of its
    instants falls in: a bucket's figures then read its own facts, not the whole period's
    (744 hourly buckets of a month would each walk every order otherwise). Exact, since every
    figure of a window only counts facts with an instant in it."""
    starts = [w.start for w in windows]

    def slots(*instants: datetime | None) -> set[int]:
        found = set()
        for at in instants:
            if at is None:
                continue
            i = bisect_right(starts, at) - 1
            if i >= 0 and windows[i].holds(at):
                found.add(i)
        return found

    orders: list[list[OrderFact]] = [[] for _ in windows]
    backs: list[list[MoneyBack]] = [[] for _ in windows]
    members: list[list[MemberFact]] = [[] for _ in windows]
    coupons: list[list[CouponFact]] = [[] for _ in windows]
    moves: list[list[PointsMove]] = [[] for _ in windows]
    for o in facts.orders:
        instants = (o.placed_at, o.confirmed_at, o.rejected_at, o.cancelled_at, o.returned_at)
        for i in slots(*instants):
            orders[i].append(o)
    for b in facts.backs:
        for i in slots(b.at):
            backs[i].append(b)
    for m in facts.members:
        for i in slots(m.registered_at):
            members[i].append(m)
    for c in facts.coupons:
        for i in slots(c.issued_at):
            coupons[i].append(c)
    for p in facts.points:
        for i in slots(p.at):
            moves[i].append(p)
    return [Facts(*parts) for parts in zip(orders, backs, members, coupons, moves, strict=True)]
