"""The membership rules, without I/O: tiers, points, coupons, refresh families, accounts and
the benefits of an order."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from membership_service.domain.accounts import AccountRuleError, check_password, normalise_email
from membership_service.domain.coupons import (
    CODE_ALPHABET,
    Coupon,
    CouponKind,
    CouponRuleError,
    CouponStatus,
    CouponTerms,
    new_code,
    normalise_code,
)
from membership_service.domain.orders import (
    Action,
    Benefits,
    OrderStatus,
    RestoreReason,
    Trigger,
    benefit_step,
    can_complete,
    cancel_trigger,
    status_after,
)
from membership_service.domain.points import (
    LedgerKind,
    Points,
    PointsRuleError,
    PointsRules,
    due_to_expire,
)
from membership_service.domain.tiers import Tier, TierRule, TierTable, counted_spend
from membership_service.domain.tokens import (
    RefreshOutcome,
    RefreshState,
    hash_refresh_token,
    new_refresh_token,
    refresh_outcome,
)

NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
TABLE = TierTable(
    (
        TierRule(Tier.BRONZE, 0, 0),
        TierRule(Tier.SILVER, 100_000, 2),
        TierRule(Tier.GOLD, 500_000, 5),
        TierRule(Tier.PLATINUM, 2_000_000, 8),
    )
)


# Tiers


@pytest.mark.parametrize(
    ("spend", "tier", "discount"),
    [
        (0, Tier.BRONZE, 0),
        (99_999, Tier.BRONZE, 0),
        (100_000, Tier.SILVER, 2),
        (499_999, Tier.SILVER, 2),
        (500_000, Tier.GOLD, 5),
        (2_000_000, Tier.PLATINUM, 8),
        (10**12, Tier.PLATINUM, 8),
    ],
)
def test_tier_is_the_highest_threshold_reached(spend: int, tier: Tier, discount: int) -> None:
    assert TABLE.tier_for(spend) is tier
    assert TABLE.discount_percent(tier) == discount


@pytest.mark.parametrize(
    "rules",
    [
        (TierRule(Tier.BRONZE, 1, 0),),  # the lowest tier starts at 0
        (TierRule(Tier.BRONZE, 0, 0), TierRule(Tier.SILVER, 0, 2)),  # not ascending
        (TierRule(Tier.BRONZE, 0, 3), TierRule(Tier.SILVER, 10, 2)),  # discount falls
    ],
)
def test_tier_tables_out_of_order_are_refused(rules: tuple[TierRule, ...]) -> None:
    with pytest.raises(ValueError):
        TierTable(rules)


def test_only_cny_counts_as_spend() -> None:
    assert counted_spend(12_345, "CNY") == 12_345
    assert counted_spend(12_345, "USD") == 0


# Points


@pytest.mark.parametrize(
    ("total", "currency", "per_yuan", "earned"),
    [
        (12_399, "CNY", 1, 123),  # 123.99 CNY: floor
        (99, "CNY", 1, 0),  # under one yuan
        (10_000, "CNY", 2, 200),
        (10_050, "CNY", 3, 301),  # 100.50 * 3 = 301.5: floor
        (10_000, "USD", 1, 0),  # only CNY orders earn
        (0, "CNY", 1, 0),
    ],
)
def test_points_earned_on_the_total_floor(
    total: int, currency: str, per_yuan: int, earned: int
) -> None:
    assert PointsRules(points_per_yuan=per_yuan).earned(total, currency) == earned


@pytest.mark.parametrize(
    ("points", "per_yuan_off", "value"),
    [(100, 100, 100), (150, 100, 150), (150, 200, 75), (1, 200, 0), (0, 100, 0)],
)
def test_points_value_at_checkout(points: int, per_yuan_off: int, value: int) -> None:
    assert PointsRules(points_per_yuan_off=per_yuan_off).value(points) == value


def test_points_expire_after_their_ttl() -> None:
    assert PointsRules(ttl_days=365).expires_at(NOW) == NOW + timedelta(days=365)


def test_points_changes_keep_both_balances_in_the_ledger() -> None:
    points, earn = Points().earn(500)
    assert (earn.kind, earn.delta, earn.held_delta, earn.balance_after) == (
        LedgerKind.EARN,
        500,
        0,
        500,
    )
    points, hold = points.hold(200)
    assert (hold.kind, hold.delta, hold.held_delta) == (LedgerKind.HOLD, -200, 200)
    assert (points.balance, points.held) == (300, 200)
    redeemed, redeem = points.redeem(200)
    assert (redeem.kind, redeem.delta, redeem.held_delta) == (LedgerKind.REDEEM, 0, -200)
    assert (redeemed.balance, redeemed.held) == (300, 0)
    released, release = points.release(200)
    assert (release.kind, release.delta, release.held_delta) == (LedgerKind.RESTORE, 200, -200)
    assert (released.balance, released.held) == (500, 0)
    refunded, refund = redeemed.refund(200)
    assert (refund.kind, refund.delta, refund.held_delta) == (LedgerKind.RESTORE, 200, 0)
    assert (refunded.balance, refunded.held) == (500, 0)
    expired, expire = refunded.expire(50)
    assert (expire.kind, expire.delta, expired.balance) == (LedgerKind.EXPIRE, -50, 450)


def test_points_cannot_go_negative() -> None:
    with pytest.raises(PointsRuleError):
        Points(100).hold(101)
    with pytest.raises(PointsRuleError):
        Points(100).hold(0)
    with pytest.raises(PointsRuleError):
        Points(0, 10).redeem(11)
    assert not Points(100).can_hold(101) and Points(100).can_hold(100)
    assert not Points(100).can_hold(-5)


def test_revoking_takes_what_the_balance_still_holds() -> None:
    revoked = Points(30).revoke(100)
    assert revoked is not None
    after, change = revoked
    assert (after.balance, change.kind, change.delta) == (0, LedgerKind.REVOKE, -30)
    assert Points(0).revoke(100) is None


@pytest.mark.parametrize(
    ("earned_due", "used", "expired", "balance", "due"),
    [
        (100, 0, 0, 100, 100),  # nothing used: the whole lot expires
        (100, 50, 0, 150, 50),  # half of the old lot was used first
        (100, 150, 0, 50, 0),  # used more than the old lot: nothing of it is left
        (200, 50, 50, 100, 100),  # the second lot is due; 50 of the first expired already
        (100, 0, 100, 0, 0),  # already expired: nothing twice
        (100, 0, 0, 40, 40),  # never more than the balance
    ],
)
def test_expiry_is_first_in_first_out(
    earned_due: int, used: int, expired: int, balance: int, due: int
) -> None:
    assert due_to_expire(earned_due=earned_due, used=used, expired=expired, balance=balance) == due


# Coupons


def coupon(**overrides: Any) -> Coupon:
    terms = CouponTerms(CouponKind.WELCOME_GIFT, amount_off=1_000, min_spend=5_000, valid_days=30)
    return replace(terms.issue("ABCD-EFGH-JKMN", "m-1", NOW), **overrides)


def problem(c: Coupon, **overrides: Any) -> str | None:
    args: dict[str, Any] = {
        "member_id": "m-1",
        "currency": "CNY",
        "subtotal": 5_000,
        "at": NOW + timedelta(days=1),
        "first_order": True,
        **overrides,
    }
    return c.problem(**args)


def test_a_coupon_is_valid_for_its_owner_within_dates_above_min_spend() -> None:
    c = coupon()
    assert c.valid_until == NOW + timedelta(days=30)
    assert problem(c) is None
    assert problem(c, at=NOW) is None and problem(c, at=c.valid_until) is None


@pytest.mark.parametrize(
    ("overrides", "coupon_overrides"),
    [
        ({"member_id": "m-2"}, {}),
        ({"at": NOW - timedelta(seconds=1)}, {}),
        ({"at": NOW + timedelta(days=30, seconds=1)}, {}),
        ({"subtotal": 4_999}, {}),
        ({"currency": "USD"}, {}),
        ({"first_order": False}, {"first_order_only": True}),
        ({}, {"status": CouponStatus.HELD, "order_id": "o-1"}),
        ({}, {"status": CouponStatus.REDEEMED, "order_id": "o-1"}),
    ],
)
def test_coupon_rules_refuse(overrides: dict[str, Any], coupon_overrides: dict[str, Any]) -> None:
    assert problem(coupon(**coupon_overrides), **overrides) is not None


def test_a_first_order_coupon_works_on_a_first_order() -> None:
    assert problem(coupon(first_order_only=True), first_order=True) is None


def test_coupon_lifecycle_is_single_use() -> None:
    held = coupon().hold("o-1")
    assert held.held_by("o-1") and not held.held_by("o-2")
    with pytest.raises(CouponRuleError):
        held.hold("o-2")
    with pytest.raises(CouponRuleError):
        held.redeem("o-2")
    redeemed = held.redeem("o-1")
    assert redeemed.status is CouponStatus.REDEEMED and redeemed.redeemed_by("o-1")
    restored = redeemed.restore("o-1")  # the order was refunded
    assert (restored.status, restored.order_id) == (CouponStatus.ACTIVE, None)
    with pytest.raises(CouponRuleError):
        restored.restore("o-1")


def test_an_active_coupon_past_its_date_shows_as_expired() -> None:
    c = coupon()
    assert c.shown_status(NOW) is CouponStatus.ACTIVE
    assert c.shown_status(c.valid_until + timedelta(seconds=1)) is CouponStatus.EXPIRED
    redeemed = c.hold("o").redeem("o")
    assert redeemed.shown_status(c.valid_until + timedelta(days=1)) is CouponStatus.REDEEMED


def test_coupon_terms_need_a_positive_amount() -> None:
    with pytest.raises(CouponRuleError):
        CouponTerms(CouponKind.SPEND_THRESHOLD, amount_off=0, min_spend=0, valid_days=1)


def test_coupon_codes_are_typable_and_typed_codes_normalise() -> None:
    codes = {new_code() for _ in range(200)}
    assert len(codes) == 200
    for code in codes:
        groups = code.split("-")
        assert [len(g) for g in groups] == [4, 4, 4]
        assert all(c in CODE_ALPHABET for c in "".join(groups))
        assert normalise_code(code.lower().replace("-", " ")) == code
    assert normalise_code("K7QM3XPA9RTD") == "K7QM-3XPA-9RTD"
    assert normalise_code("K7QM-3XPA-9RT0") is None  # 0 is not in the alphabet
    assert normalise_code("short") is None


# Refresh tokens


@pytest.mark.parametrize(
    ("state", "outcome"),
    [
        (None, RefreshOutcome.UNKNOWN),
        (RefreshState(NOW + timedelta(days=1)), RefreshOutcome.ROTATE),
        (RefreshState(NOW), RefreshOutcome.EXPIRED),
        (RefreshState(NOW + timedelta(days=1), used=True), RefreshOutcome.REUSED),
        (RefreshState(NOW - timedelta(days=1), used=True), RefreshOutcome.REUSED),
        (RefreshState(NOW + timedelta(days=1), revoked=True), RefreshOutcome.REVOKED),
        (RefreshState(NOW + timedelta(days=1), used=True, revoked=True), RefreshOutcome.REVOKED),
    ],
)
def test_refresh_family_outcomes(state: RefreshState | None, outcome: RefreshOutcome) -> None:
    assert refresh_outcome(state, NOW) is outcome


def test_refresh_tokens_are_random_and_stored_as_sha256() -> None:
    token = new_refresh_token()
    assert len(token) >= 43 and token != new_refresh_token()
    digest = hash_refresh_token(token)
    assert len(digest) == 64 and token not in digest and digest == hash_refresh_token(token)


# Accounts


@pytest.mark.parametrize(
    "password",
    ["short", "123456789", " " * 12, "a" * 129, "Alice@Example.com"],
)
def test_password_policy_refuses(password: str) -> None:
    with pytest.raises(AccountRuleError):
        check_password(password, email="alice@example.com")


@pytest.mark.parametrize(
    "password", ["correct horse", "a" * 10, "密码很长很长很长很长很长", "x" * 128]
)
def test_password_policy_accepts(password: str) -> None:
    assert check_password(password, email="alice@example.com") == password


def test_emails_are_lower_case_and_checked() -> None:
    assert normalise_email("  Alice@Example.COM ") == "alice@example.com"
    for bad in ("alice", "alice@", "@example.com", "a b@example.com", "alice@example"):
        with pytest.raises(AccountRuleError):
            normalise_email(bad)
    # What would make a To header a list or a display name: two recipients to a mailer.
    for listed in ("ceo,me@attacker.com", "a;b@example.com", "<a@example.com>", '"a"@x.com'):
        with pytest.raises(AccountRuleError):
            normalise_email(listed)
    assert normalise_email("li.wei+tag@example.co.uk") == "li.wei+tag@example.co.uk"
    assert normalise_email("用户@例子.广告") == "用户@例子.广告"


# The benefits of an order


@pytest.mark.parametrize(
    ("before", "trigger", "step"),
    [
        (Benefits.HELD, Trigger.CONFIRMED, (Benefits.REDEEMED, Action.REDEEM, None)),
        (
            Benefits.HELD,
            Trigger.REJECTED,
            (Benefits.RELEASED, Action.RESTORE, RestoreReason.ORDER_REJECTED),
        ),
        (
            Benefits.HELD,
            Trigger.CANCELLED,
            (Benefits.RELEASED, Action.RESTORE, RestoreReason.ORDER_CANCELLED),
        ),
        (
            Benefits.REDEEMED,
            Trigger.REFUNDED,
            (Benefits.REFUNDED, Action.RESTORE, RestoreReason.ORDER_REFUNDED),
        ),
        (Benefits.REDEEMED, Trigger.CONFIRMED, None),  # a second confirmation
        (Benefits.REDEEMED, Trigger.CANCELLED, None),  # not confirmed? then nothing was taken
        (Benefits.RELEASED, Trigger.CONFIRMED, None),  # a late confirmation of a failed order
        (Benefits.REFUNDED, Trigger.REFUNDED, None),
        (Benefits.REJECTED, Trigger.REJECTED, None),
        (Benefits.NONE, Trigger.CONFIRMED, None),
    ],
)
def test_benefit_steps(before: Benefits, trigger: Trigger, step: object) -> None:
    assert benefit_step(before, trigger) == step


def test_order_status_moves_forward_only() -> None:
    assert cancel_trigger(True) is Trigger.REFUNDED and cancel_trigger(False) is Trigger.CANCELLED
    assert status_after(OrderStatus.PLACED, Trigger.CONFIRMED) is OrderStatus.CONFIRMED
    assert status_after(OrderStatus.COMPLETED, Trigger.CONFIRMED) is OrderStatus.COMPLETED
    assert status_after(OrderStatus.COMPLETED, Trigger.REFUNDED) is OrderStatus.CANCELLED
    assert status_after(OrderStatus.REJECTED, Trigger.CONFIRMED) is OrderStatus.REJECTED
    assert can_complete(OrderStatus.CONFIRMED) and can_complete(OrderStatus.PLACED)
    for done in (OrderStatus.COMPLETED, OrderStatus.CANCELLED, OrderStatus.REJECTED):
        assert not can_complete(done)
