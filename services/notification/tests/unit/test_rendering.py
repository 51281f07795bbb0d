"""Every template renders in both locales from the event it is written for."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest
from jinja2 import UndefinedError

from notification_service.domain.locales import LOCALES
from notification_service.domain.templates import Template
from notification_service.service.rendering import Renderer
from shared_events.inventory import (
    LotExpiredV1,
    LotExpiringV1,
    LotRecalledV1,
    RecallCustomerAffectedV1,
    StockLowV1,
)
from shared_events.membership import CouponIssuedV1, TierChangedV1
from shared_events.money import Money
from shared_events.order import (
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderRejectedV1,
    OrderShippedV1,
)
from shared_events.payment import PaymentRefundedV1
from shared_events.registry import EventPayload

AT = datetime(2026, 12, 22, 8, 0, tzinfo=UTC)


def cny(amount: int) -> Money:
    return Money(amount=amount, currency="CNY")


def gift(kind: str = "WELCOME_GIFT") -> CouponIssuedV1:
    return CouponIssuedV1(
        member_id="m",
        coupon_code="GIFT-123",
        kind=kind,
        amount_off=cny(1_000),
        min_spend=cny(5_000),
        valid_from=AT,
        valid_until=AT + timedelta(days=30),
    )


EVENTS: dict[Template, EventPayload] = {
    Template.WELCOME: gift(),
    Template.COUPON_ISSUED: gift("FIRST_ORDER"),
    Template.ORDER_CONFIRMED: OrderConfirmedV1(order_id="o-1", member_id="m", total=cny(12_600)),
    Template.ORDER_REJECTED: OrderRejectedV1(order_id="o-1", member_id="m", reason="OUT_OF_STOCK"),
    Template.ORDER_CANCELLED: OrderCancelledV1(
        order_id="o-1", member_id="m", reason="TIMEOUT", was_confirmed=True
    ),
    Template.ORDER_SHIPPED: OrderShippedV1(order_id="o-1", member_id="m"),
    Template.PAYMENT_REFUNDED: PaymentRefundedV1(
        order_id="o-1", payment_id="p", refund_id="r-9", amount=cny(12_600)
    ),
    Template.TIER_UPGRADED: TierChangedV1(
        member_id="m", old_tier="BRONZE", new_tier="GOLD", discount_percent=5, spend_12m=cny(1)
    ),
    Template.STOCK_LOW: StockLowV1(sku="TEA-250", available=2, safety_stock=5),
    Template.LOT_EXPIRING: LotExpiringV1(
        sku="TEA-250", lot="L2401", expiry_date=date(2027, 1, 3), days_left=3, on_hand=12
    ),
    Template.LOT_EXPIRED: LotExpiredV1(
        sku="TEA-250", lot="L2401", expiry_date=date(2027, 1, 3), withdrawn=4
    ),
    Template.LOT_RECALLED: LotRecalledV1(
        recall_id="rc-1",
        sku="TEA-250",
        lot="L2401",
        reason="Undeclared peanut",
        quarantined=30,
        recalled_at=AT,
    ),
    Template.RECALL_NOTICE: RecallCustomerAffectedV1(
        recall_id="rc-1",
        order_id="o-1",
        member_id="m",
        sku="TEA-250",
        product_name="Jasmine tea",
        lot="L2401",
        quantity=2,
        trace_codes=["TC-8F3K2M9Q", "TC-2B7D4X1Z"],
        reason="Undeclared peanut",
        recalled_at=AT,
    ),
}

renderer = Renderer()


# What the operators' dead-letter email is rendered from (it has no event of its own).
DEAD_LETTERS = {
    "topic": "order.events.dlq",
    "source_topic": "order.events",
    "count": 2,
    "held": 2,
    "since": None,
    "quiet_minutes": "15",
}


def render(template: Template, locale: str, **context: Any) -> Any:
    if template is Template.DEAD_LETTERS:
        return renderer.render(template, locale, {**DEAD_LETTERS, **context})
    return renderer.render(template, locale, {"name": "李雷", "event": EVENTS[template], **context})


@pytest.mark.parametrize("locale", LOCALES)
@pytest.mark.parametrize("template", list(Template))
def test_every_template_renders_in_every_locale(template: Template, locale: str) -> None:
    out = render(template, locale)
    assert out.subject and "\n" not in out.subject
    assert out.text.strip() and "{{" not in out.text and "{%" not in out.text
    assert out.html.startswith("<!DOCTYPE html>") and f'lang="{locale}"' in out.html


def test_the_two_languages_differ() -> None:
    zh = render(Template.ORDER_CONFIRMED, "zh-CN")
    en = render(Template.ORDER_CONFIRMED, "en")
    assert zh.subject == "订单已确认：o-1" and "支付金额 ¥126.00" in zh.text
    assert en.subject == "Order confirmed: o-1" and "Amount paid: CNY 126.00." in en.text


def test_welcome_carries_the_gift_coupon() -> None:
    zh = render(Template.WELCOME, "zh-CN")
    assert "券码：GIFT-123" in zh.text and "满 ¥50.00 减 ¥10.00" in zh.text
    assert "有效期至：2027年1月21日" in zh.text
    en = render(Template.WELCOME, "en")
    assert "CNY 10.00 off orders of CNY 50.00 or more" in en.text
    assert "Valid until: 21 January 2027" in en.text


def test_expiring_lot_tells_the_operators_what_expires_when_and_how_much_is_left() -> None:
    en = render(Template.LOT_EXPIRING, "en")
    assert en.subject == "Expiring soon: TEA-250 lot L2401, 12 left, expires 3 January 2027"
    assert "in 3 days" in en.text and "mark them down" in en.text
    zh = render(Template.LOT_EXPIRING, "zh-CN")
    assert "2027年1月3日到期" in zh.subject and "12 件" in zh.text and "降价" in zh.text


@pytest.mark.parametrize(
    ("locale", "words"),
    [
        ("en", ["Jasmine tea", "Lot: L2401", "TC-8F3K2M9Q, TC-2B7D4X1Z", "Undeclared peanut",
                "Stop using", "full refund", "whatever the return window"]),
        ("zh-CN", ["Jasmine tea", "批次：L2401", "TC-8F3K2M9Q、TC-2B7D4X1Z", "Undeclared peanut",
                   "停止食用", "全额退款", "无论是否已过退货期限"]),
    ],
)  # fmt: skip
def test_recall_notice_says_what_which_why_and_what_to_do(locale: str, words: list[str]) -> None:
    out = render(Template.RECALL_NOTICE, locale)
    for word in words:
        assert word in out.text
    # The SMS says it too, in a few segments rather than cut at the subject.
    for word in words[:4]:
        assert word.split("：")[-1].split(": ")[-1] in out.sms
    assert out.sms != out.subject and "\n" not in out.sms


def test_templates_without_an_sms_text_send_their_subject() -> None:
    out = render(Template.ORDER_SHIPPED, "en")
    assert out.sms == out.subject


REJECTIONS = {
    "OUT_OF_STOCK": ("库存不足", "out of stock"),
    "PAYMENT_DECLINED": ("拒绝", "declined"),
    "INSUFFICIENT_FUNDS": ("余额不足", "sufficient funds"),
    "RISK_REJECTED": ("风险审核", "risk checks"),
    "PAYMENT_FAILED": ("支付服务暂时不可用", "payment service was unavailable"),
    "COUPON_INVALID": ("优惠券无效", "coupon on your order is not valid"),
    "INSUFFICIENT_POINTS": ("积分余额不足", "not have enough points"),
}


@pytest.mark.parametrize(("reason", "words"), REJECTIONS.items())
def test_rejection_reasons_in_words(reason: str, words: tuple[str, str]) -> None:
    event = OrderRejectedV1(order_id="o-1", member_id="m", reason=reason)
    for locale, phrase in zip(LOCALES, words, strict=True):
        text = render(Template.ORDER_REJECTED, locale, event=event).text
        assert phrase in text and reason not in text


@pytest.mark.parametrize(
    ("reason", "words"),
    [
        ("TIMEOUT", ("自动取消", "in time")),
        ("CANCELLED_BY_CUSTOMER", ("按您的要求", "your request")),
        ("RECALLED", ("召回", "recalled for safety")),
        ("LOT_EXPIRED", ("保质期", "expiry date")),
    ],
)
def test_cancellation_reasons_in_words(reason: str, words: tuple[str, str]) -> None:
    event = OrderCancelledV1(order_id="o-1", member_id="m", reason=reason, was_confirmed=False)
    for locale, phrase in zip(LOCALES, words, strict=True):
        text = render(Template.ORDER_CANCELLED, locale, event=event).text
        assert phrase in text and reason not in text
        assert "退回" not in text and "refunded" not in text  # nothing was paid


def test_an_unknown_reason_is_still_said() -> None:
    event = OrderRejectedV1(order_id="o-1", member_id="m", reason="NEW_REASON")
    assert "NEW_REASON" in render(Template.ORDER_REJECTED, "en", event=event).text


def test_tier_names_are_translated() -> None:
    assert render(Template.TIER_UPGRADED, "zh-CN").subject == "恭喜升级为金卡会员！"
    assert render(Template.TIER_UPGRADED, "en").subject == "Congratulations, you are now Gold!"


def test_html_is_escaped_and_the_subject_stays_one_line() -> None:
    out = render(Template.ORDER_SHIPPED, "en", name='<script>alert("x")</script>\nBcc: x@y')
    assert "<script>" not in out.html and "&lt;script&gt;" in out.html
    assert "<script>" in out.text  # plain text is not HTML: nothing to escape
    assert "\n" not in out.subject


def test_unknown_locale_falls_back_and_missing_values_fail_loudly() -> None:
    assert render(Template.ORDER_SHIPPED, "fr").subject == "订单已发货：o-1"
    with pytest.raises(UndefinedError):
        renderer.render(Template.ORDER_SHIPPED, "en", {"event": EVENTS[Template.ORDER_SHIPPED]})
