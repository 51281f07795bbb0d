"""Every KPI formula of docs/kpis.md on small examples computed by hand (the expected numbers are
written out, never recomputed with the formula under test)."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from analytics_service.domain import kpis
from analytics_service.domain.kpis import (
    CouponFact,
    Facts,
    LineFact,
    MemberFact,
    MoneyBack,
    MoneyBackKind,
    OrderFact,
    PointsKind,
    PointsMove,
    SkuDay,
    StockFact,
)
from analytics_service.domain.money import allocate, to_reporting
from analytics_service.domain.period import (
    Granularity,
    Period,
    PeriodError,
    Window,
    local_day,
    period_of,
)
from chassis.rules import RuleError

SHANGHAI = ZoneInfo("Asia/Shanghai")
RATES = {"USD": 7_100_000, "EUR": 7_700_000}


def at(day: int, hour: int = 12) -> datetime:
    """A UTC instant on 2026-12-<day> (12:00 UTC is 20:00 in Shanghai, the same day)."""
    return datetime(2026, 12, day, hour, tzinfo=UTC)


def day(n: int) -> Window:
    """The Shanghai day 2026-12-<n>: 16:00 UTC the day before to 16:00 UTC that day."""
    start = datetime(2026, 12, n, tzinfo=SHANGHAI).astimezone(UTC)
    return Window(start, start + timedelta(days=1))


WEEK = Window(day(1).start, day(7).end)


# ---- money ---------------------------------------------------------------------------------


def test_cny_amounts_stay_as_they_are() -> None:
    assert to_reporting(12_345, "CNY", {}) == 12_345


def test_usd_is_converted_at_the_rate_rounded_half_to_even() -> None:
    assert to_reporting(1_000, "USD", RATES) == 7_100  # 10.00 USD = 71.00 CNY
    assert to_reporting(5, "USD", RATES) == 36  # 0.355 CNY -> 0.36
    assert to_reporting(15, "USD", RATES) == 106  # 1.065 CNY -> 1.06 (half to even)
    assert to_reporting(2_000, "EUR", RATES) == 15_400


def test_a_currency_without_a_rate_is_refused() -> None:
    with pytest.raises(RuleError) as refused:
        to_reporting(100, "JPY", RATES)
    assert refused.value.code == "no-rate"


def test_an_order_total_is_split_over_its_lines_to_the_fen() -> None:
    # 100 fen over three equal lines: 33.33 each, the leftover fen to the first.
    assert allocate(100, [500, 500, 500]) == [34, 33, 33]
    # A 10 % discount: 9000 over 3000 + 7000 -> 2700 + 6300.
    assert allocate(9_000, [3_000, 7_000]) == [2_700, 6_300]
    # 1000 over 1:2 = 333.33 + 666.67: the larger remainder (0.67) gets the fen.
    assert allocate(1_000, [1, 2]) == [333, 667]
    assert allocate(10, [0, 0]) == [5, 5]
    assert allocate(0, []) == []


# ---- orders, GMV, refunds ------------------------------------------------------------------

# The week of hand-computed orders most tests below read (all CNY fen, Shanghai days):
#   A: m1, 10000, placed and paid on the 1st, refunded in full on the 3rd (a return)
#   B: m1, 5000, placed and paid on the 1st
#   C: m2, 7100 (a 10.00 USD order), placed and paid on the 2nd
#   D: m3, 3000, placed on the 2nd, rejected (OUT_OF_STOCK)
#   E: m3, 4000, placed on the 2nd, cancelled by timeout before payment
#   F: m2, 2000, placed and paid on the 2nd, cancelled by the customer on the 2nd: voided
ORDERS = [
    OrderFact("A", "m1", 10_000, at(1), at(1), returned_at=at(3)),
    OrderFact("B", "m1", 5_000, at(1), at(1)),
    OrderFact("C", "m2", 7_100, at(2), at(2)),
    OrderFact("D", "m3", 3_000, at(2), rejected_at=at(2), reject_reason="OUT_OF_STOCK"),
    OrderFact("E", "m3", 4_000, at(2), cancelled_at=at(2, 13), cancel_reason="TIMEOUT"),
    OrderFact(
        "F",
        "m2",
        2_000,
        at(2),
        at(2),
        cancelled_at=at(2, 14),
        cancel_reason="CANCELLED_BY_CUSTOMER",
    ),
]
BACKS = [
    MoneyBack("A", MoneyBackKind.REFUND, 10_000, at(3), order_confirmed=True),
    MoneyBack("F", MoneyBackKind.VOID, 2_000, at(2, 14), order_confirmed=True),
    # E's authorisation voided by the timeout: E was never confirmed, never in GMV.
    MoneyBack("E", MoneyBackKind.VOID, 4_000, at(2, 13), order_confirmed=False),
]


def test_gmv_counts_paid_orders_on_their_payment_day() -> None:
    assert kpis.gmv(ORDERS, day(1)) == 15_000  # A + B
    assert kpis.gmv(ORDERS, day(2)) == 9_100  # C + F: F was paid, its cancellation is a refund
    assert kpis.gmv(ORDERS, day(3)) == 0
    assert kpis.gmv(ORDERS, WEEK) == 24_100


def test_rejected_and_cancelled_before_payment_orders_are_not_gmv() -> None:
    unpaid = [o for o in ORDERS if o.order_id in {"D", "E"}]
    assert kpis.gmv(unpaid, WEEK) == 0
    assert kpis.orders_placed(unpaid, WEEK) == 2
    assert kpis.orders_paid(unpaid, WEEK) == 0


def test_refund_amount_counts_refunds_and_voids_of_paid_orders_on_their_day() -> None:
    assert kpis.refund_amount(BACKS, day(1)) == 0
    assert kpis.refund_amount(BACKS, day(2)) == 2_000  # F's void; E's void is not money back
    assert kpis.refund_amount(BACKS, day(3)) == 10_000
    assert kpis.refund_amount(BACKS, WEEK) == 12_000


def test_net_gmv_takes_refunds_off_the_day_they_happen() -> None:
    facts = Facts(orders=ORDERS, backs=BACKS)
    assert kpis.figures(facts, day(1)).net_gmv == 15_000
    assert kpis.figures(facts, day(2)).net_gmv == 7_100
    assert kpis.figures(facts, day(3)).net_gmv == -10_000  # a day of refunds only
    assert kpis.figures(facts, WEEK).net_gmv == 12_100


def test_orders_members_and_aov() -> None:
    assert kpis.orders_placed(ORDERS, WEEK) == 6
    assert kpis.orders_paid(ORDERS, WEEK) == 4
    assert kpis.paying_members(ORDERS, WEEK) == 2  # m1 (A, B), m2 (C, F)
    assert kpis.active_members(ORDERS, WEEK) == 3  # m3 placed, never paid: still active
    assert kpis.paying_members(ORDERS, day(2)) == 1  # m2
    assert kpis.aov(24_100, 4) == 6_025
    assert kpis.aov(10_001, 2) == 5_000  # 5000.5 -> half to even
    assert kpis.aov(10_003, 2) == 5_002  # 5001.5 -> 5002
    assert kpis.aov(0, 0) is None


def test_repurchase_counts_kept_paid_orders_only() -> None:
    # m1: A (returned) and B: one kept order. m2: C and F (cancelled): one kept order.
    assert kpis.repurchase_rate(ORDERS, WEEK) == 0.0
    again = [*ORDERS, OrderFact("G", "m2", 1_000, at(4), at(4))]
    assert kpis.repurchase_rate(again, WEEK) == 0.5  # m2 (C, G) of m1, m2
    assert kpis.repurchase_rate(again, day(5)) is None  # nobody paid


def test_return_rate_by_count_and_by_amount() -> None:
    assert kpis.return_rate(ORDERS, WEEK) == 0.25  # A of A, B, C, F
    assert kpis.return_amount_rate(ORDERS, WEEK) == round(10_000 / 24_100, 4)
    assert kpis.return_rate(ORDERS, day(3)) is None  # a return, but no order paid that day


def test_status_flow_counts_each_event_on_its_day() -> None:
    flow = kpis.status_flow(ORDERS, day(2))
    assert flow == kpis.StatusFlow(
        placed=4,
        confirmed=2,
        rejected={"OUT_OF_STOCK": 1},
        cancelled={"CANCELLED_BY_CUSTOMER": 1, "TIMEOUT": 1},
        cancelled_after_payment=1,
        returned=0,
    )
    assert kpis.status_flow(ORDERS, day(3)).returned == 1


def test_a_late_refund_lands_on_its_own_day_not_on_the_day_it_arrived() -> None:
    late = MoneyBack("B", MoneyBackKind.REFUND, 5_000, at(1, 15), order_confirmed=True)
    # It happened on the 1st (23:00 in Shanghai) even if analytics read it on the 5th.
    assert kpis.refund_amount([late], day(1)) == 5_000
    assert kpis.refund_amount([late], day(2)) == 0


def test_a_day_is_a_shanghai_day() -> None:
    # 2026-12-01T16:30Z is 00:30 on the 2nd in Shanghai.
    order = OrderFact("H", "m9", 800, at(1, 16), at(1, 16) + timedelta(minutes=30))
    assert kpis.gmv([order], day(1)) == 0
    assert kpis.gmv([order], day(2)) == 800
    assert local_day(at(1, 16), SHANGHAI) == date(2026, 12, 2)


# ---- funnel --------------------------------------------------------------------------------


def test_the_funnel_without_view_and_cart_events() -> None:
    steps = kpis.funnel(None, None, 6, 4)
    assert [(s.step, s.count, s.rate) for s in steps] == [
        ("views", None, None),
        ("cart_adds", None, None),
        ("orders_placed", 6, None),  # its rate needs cart adds
        ("orders_paid", 4, 0.6667),
    ]


def test_the_funnel_with_every_step() -> None:
    steps = kpis.funnel(200, 40, 10, 8)
    assert [s.rate for s in steps] == [None, 0.2, 0.25, 0.8]
    assert kpis.funnel(0, 0, 0, 0)[1].rate is None


def test_the_funnel_per_category_counts_an_order_in_each_of_its_categories() -> None:
    orders = [
        OrderFact("A", placed_at=at(2), confirmed_at=at(2)),  # tea + teaware, paid
        OrderFact("B", placed_at=at(2)),  # tea, not paid
        OrderFact("C", placed_at=at(1), confirmed_at=at(2)),  # teaware: placed the day before
    ]
    lines = kpis.group_lines(
        [
            LineFact("A", "TEA-1", 1, 100, "tea"),
            LineFact("A", "CUP-1", 1, 100, "teaware"),
            LineFact("B", "TEA-1", 1, 100, "tea"),
            LineFact("C", "CUP-1", 1, 100, "teaware"),
        ]
    )
    views = {"tea": 20, "teaware": 4, "uncategorised": 3}
    adds = {"tea": (5, 7), "teaware": (2, 2), "books": (0, 0)}
    funnels = kpis.funnel_by_category(views, adds, orders, lines, day(2))
    assert [(f.category, f.units_added) for f in funnels] == [
        ("tea", 7),
        ("teaware", 2),
        ("uncategorised", 0),  # "books" has nothing at all: left out
    ]
    tea, teaware, other = ([(s.count, s.rate) for s in f.steps] for f in funnels)
    assert tea == [(20, None), (5, 0.25), (2, 0.4), (1, 0.5)]
    assert teaware == [(4, None), (2, 0.5), (1, 0.5), (2, 2.0)]  # C paid today, placed before
    assert other == [(3, None), (0, 0.0), (0, None), (0, None)]


def test_orders_per_reporting_day() -> None:
    instants = [at(1, 15), at(1, 16), at(2, 3), None]  # 16:00 UTC is midnight in Shanghai
    assert kpis.per_day(instants, SHANGHAI) == {date(2026, 12, 1): 1, date(2026, 12, 2): 2}


# ---- categories ----------------------------------------------------------------------------


def test_category_figures_split_refunds_like_the_order_total() -> None:
    lines = kpis.group_lines(
        [
            LineFact("A", "TEA-1", 2, 6_000, "tea"),
            LineFact("A", "CUP-1", 1, 4_000, "teaware"),
            LineFact("B", "TEA-1", 1, 5_000, "tea"),
        ]
    )
    orders = [o for o in ORDERS if o.order_id in {"A", "B"}]
    backs = [BACKS[0]]  # A refunded in full on the 3rd
    week = {c.category: c for c in kpis.by_category(orders, lines, backs, WEEK)}
    assert week["tea"].gmv == 11_000 and week["teaware"].gmv == 4_000
    assert week["tea"].orders_paid == 2 and week["teaware"].orders_paid == 1
    assert week["tea"].units_sold == 3 and week["teaware"].units_sold == 1
    assert week["tea"].refund_amount == 6_000 and week["teaware"].refund_amount == 4_000
    assert week["tea"].net_gmv == 5_000 and week["teaware"].net_gmv == 0
    assert week["tea"].returns == 1 and week["teaware"].returns == 1
    only_refund_day = kpis.by_category(orders, lines, backs, day(3))
    assert [(c.category, c.gmv, c.refund_amount) for c in only_refund_day] == [
        ("tea", 0, 6_000),
        ("teaware", 0, 4_000),
    ]


# ---- members, coupons, points --------------------------------------------------------------


def test_new_members_and_tiers() -> None:
    members = [MemberFact("m1", at(1)), MemberFact("m2", at(2)), MemberFact("m3", at(9))]
    assert kpis.new_members(members, WEEK) == 2
    assert kpis.tier_distribution([(None, 3), ("GOLD", 1), ("SILVER", 2)]) == {
        "BRONZE": 3,
        "GOLD": 1,
        "SILVER": 2,
    }


def test_coupon_redemption_of_the_coupons_issued_in_the_period() -> None:
    coupons = [
        CouponFact("W-1", at(1), redeemed=True),
        CouponFact("W-2", at(1), redeemed=False),
        CouponFact("W-3", at(2), redeemed=False),  # redeemed, then restored by a return
        CouponFact("W-4", at(9), redeemed=True),  # issued after the week
    ]
    use = kpis.coupon_redemption(coupons, WEEK)
    assert (use.issued, use.redeemed, use.rate) == (3, 1, 0.3333)
    assert kpis.coupon_redemption([], WEEK).rate is None


def test_points_issued_redeemed_net_of_restored_and_expired() -> None:
    moves = [
        PointsMove(PointsKind.EARNED, 150, at(1)),
        PointsMove(PointsKind.REDEEMED, 500, at(2)),
        PointsMove(PointsKind.RESTORED, 200, at(3)),
        PointsMove(PointsKind.EXPIRED, 30, at(4)),
        PointsMove(PointsKind.EARNED, 999, at(9)),
    ]
    assert kpis.points(moves, WEEK) == kpis.PointsFigures(issued=150, redeemed=300, expired=30)
    assert kpis.points(moves, day(3)).redeemed == -200  # a day of give-backs only


# ---- stock ---------------------------------------------------------------------------------


def test_sell_through_and_turnover() -> None:
    assert kpis.sell_through(30, 70) == 0.3
    assert kpis.sell_through(0, 0) is None
    # 70 on hand, 30 sold in 7 days: 70 / (30 / 7) = 16.3 days.
    assert kpis.turnover_days(70, 30, 7) == 16.3
    assert kpis.turnover_days(70, 0, 7) is None


def stock(
    sku: str, on_hand: int, safety: int | None, first: datetime, sold: datetime | None
) -> StockFact:
    return StockFact(sku, on_hand, safety, first, sold, "tea")


def test_low_stock_uses_the_published_safety_stock_else_the_default() -> None:
    stocks = [
        stock("A", 3, 10, at(1), None),  # 7 under its own
        stock("B", 5, None, at(1), None),  # at the default 5
        stock("C", 6, None, at(1), None),  # above the default
        stock("D", 0, 2, at(1), None),
    ]
    low = kpis.low_stock(stocks, default_safety_stock=5)
    assert [(s.sku, s.on_hand, s.safety_stock) for s in low] == [
        ("A", 3, 10),
        ("D", 0, 2),
        ("B", 5, 5),
    ]


def test_slow_moving_means_stock_and_no_sale_for_n_days() -> None:
    now = at(31)
    stocks = [
        stock("OLD-SALE", 10, None, at(1), at(1)),  # 30 days without a sale
        stock("NEVER", 4, None, at(1), None),  # never sold, seen 30 days ago
        stock("RECENT", 10, None, at(1), at(20)),
        stock("EMPTY", 0, None, at(1), None),  # nothing on hand
        stock("NEW", 10, None, at(25), None),  # seen 6 days ago
    ]
    slow = kpis.slow_moving(stocks, now, days=30)
    assert [(s.sku, s.days_without_sale) for s in slow] == [("NEVER", 30), ("OLD-SALE", 30)]
    assert kpis.slow_moving(stocks, now, days=5)[-1].sku == "NEW"


def test_one_sku_over_a_period_fills_the_days_without_sales() -> None:
    days = [
        SkuDay(date(2026, 12, 1), 4, 0, 4_000),
        SkuDay(date(2026, 12, 3), 2, 1, 2_000),
        SkuDay(date(2026, 12, 9), 50, 0, 50_000),  # outside
    ]
    figures = kpis.sku_figures(days, date(2026, 12, 1), date(2026, 12, 4), on_hand=18)
    assert [d.units_sold for d in figures.days] == [4, 0, 2, 0]
    assert (figures.units_sold, figures.units_returned, figures.gmv) == (6, 1, 6_000)
    assert figures.sell_through == 0.25  # 6 / (6 + 18)
    assert figures.turnover_days == 12.0  # 18 / (6 / 4)


def test_one_sku_funnel_over_a_period() -> None:
    days = [
        SkuDay(date(2026, 12, 1), 1, 0, 100, views=30, cart_adds=4, units_added=6, orders_placed=2),
        SkuDay(date(2026, 12, 2), 2, 0, 200, views=10, cart_adds=1, units_added=1, orders_paid=2),
        SkuDay(date(2026, 12, 9), 9, 0, 900, views=99, cart_adds=9),  # outside
    ]
    figures = kpis.sku_figures(days, date(2026, 12, 1), date(2026, 12, 2), on_hand=0)
    assert [(s.count, s.rate) for s in figures.funnel] == [
        (40, None),
        (5, 0.125),
        (2, 0.4),
        (2, 1.0),
    ]
    assert figures.units_added == 7


# ---- the period ----------------------------------------------------------------------------


def period(first: date, last: date, grain: str = "day") -> Period:
    return period_of(first, last, grain, SHANGHAI, max_days=366, max_hour_days=31)


def test_a_period_of_shanghai_days() -> None:
    p = period(date(2026, 12, 1), date(2026, 12, 3))
    assert p.granularity is Granularity.DAY
    assert p.window == Window(at(1, 0) - timedelta(hours=8), at(3, 16))
    assert [b.label for b in p.buckets()] == ["2026-12-01", "2026-12-02", "2026-12-03"]
    hours = period(date(2026, 12, 1), date(2026, 12, 1), "hour").buckets()
    assert len(hours) == 24
    assert hours[0].label == "2026-12-01T00:00"
    assert hours[0].window.start == datetime(2026, 11, 30, 16, tzinfo=UTC)


@pytest.mark.parametrize(
    ("first", "last", "grain", "code"),
    [
        (date(2026, 12, 3), date(2026, 12, 1), "day", "reversed-period"),
        (date(2026, 12, 1), date(2026, 12, 1), "week", "unknown-granularity"),
        (date(2025, 1, 1), date(2026, 12, 1), "day", "period-too-long"),
        (date(2026, 10, 1), date(2026, 12, 1), "hour", "period-too-long"),
        (date(1, 1, 1), date(1, 1, 1), "day", "period-out-of-range"),
        (date(9999, 12, 31), date(9999, 12, 31), "hour", "period-out-of-range"),
    ],
)
def test_periods_the_api_refuses(first: date, last: date, grain: str, code: str) -> None:
    with pytest.raises(PeriodError) as refused:
        period(first, last, grain)
    assert refused.value.code == code
    assert refused.value.status == 422


def test_figures_of_the_week_in_one_call() -> None:
    facts = Facts(
        orders=ORDERS,
        backs=BACKS,
        members=[MemberFact("m1", at(1))],
        coupons=[CouponFact("W-1", at(1), redeemed=True)],
        points=[PointsMove(PointsKind.EARNED, 10, at(2))],
    )
    week = kpis.figures(facts, WEEK)
    assert (week.gmv, week.refund_amount, week.net_gmv) == (24_100, 12_000, 12_100)
    assert (week.orders_placed, week.orders_paid, week.placed_to_paid_rate) == (6, 4, 0.6667)
    assert (week.paying_members, week.aov, week.gmv_per_paying_member) == (2, 6_025, 12_050)
    assert (week.new_members, week.coupons_redeemed, week.points_issued) == (1, 1, 10)
    assert (week.returns, week.return_rate) == (1, 0.25)


def test_split_gives_each_bucket_the_figures_of_the_whole_facts() -> None:
    facts = Facts(
        orders=ORDERS,
        backs=BACKS,
        members=[MemberFact("m1", at(1)), MemberFact("m2", at(3))],
        coupons=[CouponFact("W-1", at(2), redeemed=True)],
        points=[PointsMove(PointsKind.EARNED, 10, at(2)), PointsMove(PointsKind.EXPIRED, 5, at(9))],
    )
    hours = period(date(2026, 12, 1), date(2026, 12, 4), "hour").buckets()
    days = period(date(2026, 12, 1), date(2026, 12, 4)).buckets()
    for buckets in (hours, days):
        windows = [b.window for b in buckets]
        parts = kpis.split(facts, windows)
        for window, own in zip(windows, parts, strict=True):
            assert kpis.figures(own, window) == kpis.figures(facts, window)
    # Order A (placed and paid on the 1st, returned on the 3rd) is a fact of both days.
    day_parts = kpis.split(facts, [b.window for b in days])
    assert [[o.order_id for o in part.orders] for part in day_parts] == [
        ["A", "B"],
        ["C", "D", "E", "F"],
        ["A"],
        [],
    ]
