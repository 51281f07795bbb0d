from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest

from chassis.testing.orders import order_placed
from notification_service.domain.channels import Channel, mask_phone
from notification_service.domain.delivery import DeliveryStatus, RetryPolicy
from notification_service.domain.locales import resolve_locale
from notification_service.domain.notices import is_upgrade, notice_for
from notification_service.domain.preferences import Preferences
from notification_service.domain.templates import Category, Template
from notification_service.domain.webhooks import address_allowed, event_category, host_allowed
from notification_service.service.notify import webhook_body
from shared_events import registry
from shared_events.inventory import LotExpiringV1, RecallCustomerAffectedV1, StockLowV1
from shared_events.membership import CouponIssuedV1, TierChangedV1
from shared_events.money import Money
from shared_events.order import OrderCancelledV1, OrderDeliveredV1, OrderRejectedV1

TX, MK, OPS = Category.TRANSACTIONAL, Category.MARKETING, Category.OPERATIONAL
SAFE = Category.SAFETY
E, S, W = Channel.EMAIL, Channel.SMS, Channel.WEBHOOK


# ---- preferences -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prefs", "channel", "category", "allowed"),
    [
        (Preferences(), E, TX, True),  # defaults: transactional on ...
        (Preferences(), S, TX, True),
        (Preferences(), W, TX, True),
        (Preferences(), E, MK, False),  # ... marketing off
        (Preferences(marketing_consent=True), E, MK, True),
        (Preferences(email=False), E, TX, False),  # an opted-out channel gets nothing
        (Preferences(email=False, marketing_consent=True), E, MK, False),
        (Preferences(email=False), S, TX, True),  # other channels are unaffected
        (Preferences(sms=False), S, TX, False),
        (Preferences(webhook=False), W, TX, False),
        (Preferences(marketing_consent=True, sms=False), S, MK, False),
        # A recall notice is owed to the buyer: no opt-out or missing consent withholds it.
        (Preferences(email=False, sms=False, webhook=False), E, SAFE, True),
        (Preferences(email=False, sms=False, webhook=False), S, SAFE, True),
    ],
)
def test_preference_rules(
    prefs: Preferences, channel: Channel, category: Category, allowed: bool
) -> None:
    assert prefs.allows(channel, category) is allowed


def test_categories_of_templates_and_forwarded_events() -> None:
    marketing = {t for t in Template if t.category is MK}
    assert marketing == {Template.TIER_UPGRADED, Template.COUPON_ISSUED}
    assert Template.STOCK_LOW.category is OPS
    assert {t for t in Template if t.category is OPS} == {
        Template.STOCK_LOW,
        Template.LOT_EXPIRING,
        Template.LOT_EXPIRED,
        Template.LOT_RECALLED,
        Template.DEAD_LETTERS,
    }
    assert {t for t in Template if t.category is SAFE} == {Template.RECALL_NOTICE}
    assert Template.WELCOME.category is TX and Template.PAYMENT_REFUNDED.category is TX
    assert event_category("membership.tier.changed") is MK
    assert event_category("order.order.confirmed") is TX


# ---- retries -----------------------------------------------------------------------------


def test_failure_retries_until_the_last_attempt_or_a_permanent_error() -> None:
    policy = RetryPolicy(max_attempts=3, backoff_seconds=0.1)
    assert policy.after_failure(1) is DeliveryStatus.RETRY
    assert policy.after_failure(2) is DeliveryStatus.RETRY
    assert policy.after_failure(3) is DeliveryStatus.FAILED
    assert policy.after_failure(1, permanent=True) is DeliveryStatus.FAILED


# ---- small rules -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("old", "new", "upgrade"),
    [
        ("BRONZE", "SILVER", True),
        ("SILVER", "PLATINUM", True),
        ("GOLD", "SILVER", False),
        ("GOLD", "GOLD", False),
        ("BRONZE", "DIAMOND", False),  # unknown: never announced
        ("NEW", "BRONZE", True),
    ],
)
def test_tier_upgrade_means_a_higher_rank(old: str, new: str, upgrade: bool) -> None:
    assert is_upgrade(old, new) is upgrade


@pytest.mark.parametrize(
    ("value", "locale"),
    [
        ("zh-CN", "zh-CN"),
        ("en", "en"),
        ("en-GB", "en"),
        ("en_US", "en"),
        ("zh-TW", "zh-CN"),
        ("fr", "zh-CN"),
        ("", "zh-CN"),
        (None, "zh-CN"),
    ],
)
def test_locale_falls_back_to_chinese(value: str | None, locale: str) -> None:
    assert resolve_locale(value) == locale


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        ("http://127.0.0.1:8080/hooks", True),
        ("https://LOCALHOST/hooks", True),
        ("http://127.0.0.1.evil.example/hooks", False),
        ("http://evil.example/?x=127.0.0.1", False),
        ("http://user:pw@127.0.0.1/hooks", False),
        ("ftp://127.0.0.1/hooks", False),
        ("http://[::1]/hooks", False),
        ("not a url", False),
    ],
)
def test_webhook_hosts_must_be_listed_exactly(url: str, allowed: bool) -> None:
    assert host_allowed(url, ["127.0.0.1", "localhost"]) is allowed


def test_phone_numbers_are_masked() -> None:
    assert mask_phone("+8613800138000") == "**********8000"
    assert mask_phone("123") == "***"


# ---- which notice an event calls for -----------------------------------------------------


def _coupon(kind: str) -> CouponIssuedV1:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    money = Money(amount=100, currency="CNY")
    return CouponIssuedV1(
        member_id="m-1",
        coupon_code="C",
        kind=kind,
        amount_off=money,
        min_spend=money,
        valid_from=at,
        valid_until=at,
    )


def test_notices_for_events() -> None:
    welcome = notice_for(_coupon("WELCOME_GIFT"))
    assert welcome is not None and welcome.template is Template.WELCOME
    assert welcome.member_id == "m-1" and welcome.category is TX
    other = notice_for(_coupon("SPEND_THRESHOLD"))
    assert other is not None and other.template is Template.COUPON_ISSUED
    assert other.category is MK

    rejected = notice_for(OrderRejectedV1(order_id="o", member_id="m-2", reason="OUT_OF_STOCK"))
    assert rejected is not None and rejected.template is Template.ORDER_REJECTED
    assert rejected.context()["event"].reason == "OUT_OF_STOCK"
    cancelled = OrderCancelledV1(order_id="o", member_id="m", reason="TIMEOUT", was_confirmed=False)
    assert notice_for(cancelled).template is Template.ORDER_CANCELLED  # type: ignore[union-attr]

    low = notice_for(StockLowV1(sku="A", available=1, safety_stock=3))
    assert low is not None and low.member_id is None and low.category is OPS
    expiring = notice_for(
        LotExpiringV1(sku="A", lot="L1", expiry_date=date(2027, 1, 3), days_left=3, on_hand=9)
    )
    assert expiring is not None and expiring.member_id is None
    assert expiring.template is Template.LOT_EXPIRING and expiring.category is OPS
    recall = notice_for(
        RecallCustomerAffectedV1(
            recall_id="rc",
            order_id="o",
            member_id="m-3",
            sku="A",
            product_name="Tea",
            lot="L1",
            quantity=1,
            trace_codes=["TC-1"],
            reason="Undeclared peanut",
            recalled_at=datetime(2026, 12, 22, tzinfo=UTC),
        )
    )
    assert recall is not None and recall.member_id == "m-3" and recall.category is SAFE

    money = Money(amount=0, currency="CNY")
    up = TierChangedV1(
        member_id="m", old_tier="BRONZE", new_tier="GOLD", discount_percent=5, spend_12m=money
    )
    down = up.model_copy(update={"old_tier": "PLATINUM"})
    assert notice_for(up).template is Template.TIER_UPGRADED  # type: ignore[union-attr]
    assert notice_for(down) is None
    assert notice_for(OrderDeliveredV1(order_id="o", member_id="m")) is None  # webhooks only


@pytest.mark.parametrize(
    ("address", "public_only", "with_private"),
    [
        ("93.184.216.34", True, True),
        ("2606:2800:220:1:248:1893:25c8:1946", True, True),
        ("127.0.0.1", False, True),
        ("10.1.2.3", False, True),
        ("172.16.0.9", False, True),
        ("192.168.1.1", False, True),
        ("169.254.169.254", False, True),  # the cloud metadata service
        ("::1", False, True),
        ("fd00::1", False, True),
        ("::ffff:127.0.0.1", False, True),  # IPv4-mapped loopback
        # IPv4 inside IPv6 is judged as that IPv4: NAT64, IPv4-compatible, 6to4.
        ("64:ff9b::a00:5", False, True),  # 10.0.0.5 behind a NAT64 gateway
        ("64:ff9b::808:808", True, True),  # 8.8.8.8 behind it
        ("64:ff9b:1:0:a:0:500:0", False, True),  # local-use NAT64: where the IPv4 is, unknown
        ("::7f00:1", False, True),  # 127.0.0.1, IPv4-compatible
        ("2002:7f00:1::", False, True),  # 6to4 of 127.0.0.1
        # IPv4-translated (SIIT, ::ffff:0:0:0/96), not the mapped form.
        ("::ffff:0:7f00:1", False, True),  # 127.0.0.1
        ("::ffff:0:a9fe:a9fe", False, True),  # 169.254.169.254, the metadata service
        ("::ffff:0:a00:5", False, True),  # 10.0.0.5
        ("::ffff:0:808:808", True, True),  # 8.8.8.8
        ("::ffff:0:0:0", False, False),  # 0.0.0.0
        ("fec0::1", False, False),  # deprecated site-local
        ("2001:0:4136:e378:8000:63bf:3fff:fdd2", False, False),  # Teredo: a hidden tunnel
        ("0.0.0.0", False, False),  # noqa: S104 - an address to refuse, not to bind
        ("224.0.0.1", False, False),
        ("not-an-address", False, False),
    ],
)
def test_webhook_addresses(address: str, public_only: bool, with_private: bool) -> None:
    assert address_allowed(address, allow_private=False) is public_only
    assert address_allowed(address, allow_private=True) is with_private


def test_a_webhook_gets_the_event_without_its_coupon_code() -> None:
    """The coupon is the member's to spend: `order.order.placed` goes to subscribers without
    the code it used, everything else as published."""
    placed = order_placed("o-1", coupon_code="K7QM-3XPA-9RTD", discount=500, subtotal=9_900)
    envelope = registry.envelope(placed, subject="o-1")
    body = json.loads(webhook_body(envelope))
    assert "coupon_code" not in body["data"]
    assert body["data"] == {k: v for k, v in envelope.data.items() if k != "coupon_code"}
    assert (body["id"], body["type"]) == (str(envelope.id), "order.order.placed")
