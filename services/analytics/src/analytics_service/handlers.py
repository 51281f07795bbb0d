"""Event handlers: every topic the KPIs need, one consumer (inbox name) per topic, one use case
of service/projection.py per event. The chassis parses the envelope, claims the inbox rows and
opens the poll's transaction; `CONSUMERS` at the bottom says who handles what. Events that
change no figure (reservations, shipping, points holds, ...) are not subscribed: the consumer
skips them on their type header without parsing them."""

from __future__ import annotations

from analytics_service.deps import AnalyticsRuntime
from analytics_service.domain.kpis import MoneyBackKind, PointsKind
from analytics_service.service import projection
from chassis.consumer import Delivery, EventConsumer
from shared_events.catalog import (
    ProductCreatedV1,
    ProductPublishedV1,
    ProductUpdatedV1,
    ProductViewedV1,
)
from shared_events.inventory import (
    StockAdjustedV1,
    StockCommittedV2,
    StockLowV1,
    StockReleasedV1,
)
from shared_events.membership import (
    CouponIssuedV1,
    CouponRedeemedV1,
    CouponRestoredV1,
    MemberRegisteredV1,
    PointsEarnedV1,
    PointsExpiredV1,
    PointsRedeemedV1,
    PointsRestoredV1,
    TierChangedV1,
)
from shared_events.order import (
    CartItemChangedV1,
    OrderCancelledV1,
    OrderConfirmedV1,
    OrderPlacedV1,
    OrderRejectedV1,
    OrderReturnedV1,
)
from shared_events.payment import (
    PaymentAuthorizedV1,
    PaymentCapturedV1,
    PaymentRefundedV1,
    PaymentVoidedV1,
)
from shared_events.topics import (
    CATALOG_EVENTS,
    CATALOG_VIEWS,
    INVENTORY_EVENTS,
    MEMBERSHIP_EVENTS,
    ORDER_EVENTS,
    PAYMENT_EVENTS,
)

AnalyticsDelivery = Delivery[AnalyticsRuntime]


# ---- catalog.events ------------------------------------------------------------------------


async def on_product_created(delivery: AnalyticsDelivery, event: ProductCreatedV1) -> None:
    await projection.record_product(delivery, event, event.version)


async def on_product_updated(delivery: AnalyticsDelivery, event: ProductUpdatedV1) -> None:
    await projection.record_product(delivery, event, event.version)


async def on_product_published(delivery: AnalyticsDelivery, event: ProductPublishedV1) -> None:
    await projection.record_skus(delivery, event.product_id, event.skus)


# ---- catalog.views (clickstream on its own topic: catalog.events readers never fetch it) ----


async def on_product_viewed(delivery: AnalyticsDelivery, event: ProductViewedV1) -> None:
    await projection.record_view(delivery, event)


# ---- order.events --------------------------------------------------------------------------


async def on_order_placed(delivery: AnalyticsDelivery, event: OrderPlacedV1) -> None:
    await projection.record_placed(delivery, event)


async def on_order_confirmed(delivery: AnalyticsDelivery, event: OrderConfirmedV1) -> None:
    await projection.record_confirmed(delivery, event.order_id, event.member_id)


async def on_order_rejected(delivery: AnalyticsDelivery, event: OrderRejectedV1) -> None:
    await projection.record_order_step(
        delivery,
        "rejected",
        event.order_id,
        event.member_id,
        rejected_at=projection.event_time(delivery),
        reject_reason=event.reason[:50],
    )


async def on_order_cancelled(delivery: AnalyticsDelivery, event: OrderCancelledV1) -> None:
    await projection.record_order_step(
        delivery,
        "cancelled",
        event.order_id,
        event.member_id,
        cancelled_at=projection.event_time(delivery),
        cancel_reason=event.reason[:50],
        cancelled_after_payment=event.was_confirmed,
    )
    if event.was_confirmed:  # the paid units come back
        await projection.record_units_back(delivery, event.order_id)


async def on_order_returned(delivery: AnalyticsDelivery, event: OrderReturnedV1) -> None:
    await projection.record_order_step(
        delivery,
        "returned",
        event.order_id,
        event.member_id,
        returned_at=projection.event_time(delivery),
    )
    await projection.record_units_back(delivery, event.order_id)


async def on_cart_item_changed(delivery: AnalyticsDelivery, event: CartItemChangedV1) -> None:
    await projection.record_cart_change(delivery, event)


# ---- payment.events ------------------------------------------------------------------------


async def on_payment_authorized(delivery: AnalyticsDelivery, event: PaymentAuthorizedV1) -> None:
    await projection.record_paid(delivery, event.order_id, event.amount_cny)


async def on_payment_captured(delivery: AnalyticsDelivery, event: PaymentCapturedV1) -> None:
    await projection.record_paid(delivery, event.order_id, event.amount_cny)


async def on_payment_refunded(delivery: AnalyticsDelivery, event: PaymentRefundedV1) -> None:
    await projection.record_money_back(
        delivery,
        event.order_id,
        MoneyBackKind.REFUND,
        event.refund_id,
        event.amount,
        event.amount_cny,
    )


async def on_payment_voided(delivery: AnalyticsDelivery, event: PaymentVoidedV1) -> None:
    await projection.record_money_back(
        delivery,
        event.order_id,
        MoneyBackKind.VOID,
        event.payment_id,
        event.amount,
        event.amount_cny,
    )


# ---- inventory.events ----------------------------------------------------------------------


async def on_stock_adjusted(delivery: AnalyticsDelivery, event: StockAdjustedV1) -> None:
    await projection.record_count(delivery, event)


async def on_stock_low(delivery: AnalyticsDelivery, event: StockLowV1) -> None:
    await projection.record_safety_stock(delivery, event)


async def on_stock_committed(delivery: AnalyticsDelivery, event: StockCommittedV2) -> None:
    """Read as v2, which inventory publishes for good: a stored v1 record is upcast, and the
    v1 twin of a commit published in both (`ce_dataversions`) is skipped by the consumer."""
    await projection.record_committed(delivery, event)


async def on_stock_released(delivery: AnalyticsDelivery, event: StockReleasedV1) -> None:
    await projection.record_released(delivery, event)


# ---- membership.events ---------------------------------------------------------------------


async def on_member_registered(delivery: AnalyticsDelivery, event: MemberRegisteredV1) -> None:
    await projection.record_member(delivery, event)


async def on_tier_changed(delivery: AnalyticsDelivery, event: TierChangedV1) -> None:
    await projection.record_tier(delivery, event)


async def on_coupon_issued(delivery: AnalyticsDelivery, event: CouponIssuedV1) -> None:
    await projection.record_coupon(delivery, event)


async def on_coupon_redeemed(delivery: AnalyticsDelivery, event: CouponRedeemedV1) -> None:
    await projection.record_coupon_use(delivery, event)


async def on_coupon_restored(delivery: AnalyticsDelivery, event: CouponRestoredV1) -> None:
    await projection.record_coupon_use(delivery, event)


async def on_points_earned(delivery: AnalyticsDelivery, event: PointsEarnedV1) -> None:
    await projection.record_points(
        delivery, PointsKind.EARNED, event.member_id, event.points, event.order_id
    )


async def on_points_redeemed(delivery: AnalyticsDelivery, event: PointsRedeemedV1) -> None:
    await projection.record_points(
        delivery, PointsKind.REDEEMED, event.member_id, event.points, event.order_id
    )


async def on_points_restored(delivery: AnalyticsDelivery, event: PointsRestoredV1) -> None:
    await projection.record_points(
        delivery, PointsKind.RESTORED, event.member_id, event.points, event.order_id
    )


async def on_points_expired(delivery: AnalyticsDelivery, event: PointsExpiredV1) -> None:
    await projection.record_points(delivery, PointsKind.EXPIRED, event.member_id, event.points)


CONSUMERS = [
    EventConsumer(
        "analytics-catalog",
        CATALOG_EVENTS,
        {
            ProductCreatedV1: on_product_created,
            ProductUpdatedV1: on_product_updated,
            ProductPublishedV1: on_product_published,
        },
    ),
    EventConsumer("analytics-views", CATALOG_VIEWS, {ProductViewedV1: on_product_viewed}),
    EventConsumer(
        "analytics-orders",
        ORDER_EVENTS,
        {
            OrderPlacedV1: on_order_placed,
            OrderConfirmedV1: on_order_confirmed,
            OrderRejectedV1: on_order_rejected,
            OrderCancelledV1: on_order_cancelled,
            OrderReturnedV1: on_order_returned,
            CartItemChangedV1: on_cart_item_changed,
        },
    ),
    EventConsumer(
        "analytics-payments",
        PAYMENT_EVENTS,
        {
            PaymentAuthorizedV1: on_payment_authorized,
            PaymentCapturedV1: on_payment_captured,
            PaymentRefundedV1: on_payment_refunded,
            PaymentVoidedV1: on_payment_voided,
        },
    ),
    EventConsumer(
        "analytics-inventory",
        INVENTORY_EVENTS,
        {
            StockAdjustedV1: on_stock_adjusted,
            StockLowV1: on_stock_low,
            StockCommittedV2: on_stock_committed,
            StockReleasedV1: on_stock_released,
        },
    ),
    EventConsumer(
        "analytics-membership",
        MEMBERSHIP_EVENTS,
        {
            MemberRegisteredV1: on_member_registered,
            TierChangedV1: on_tier_changed,
            CouponIssuedV1: on_coupon_issued,
            CouponRedeemedV1: on_coupon_redeemed,
            CouponRestoredV1: on_coupon_restored,
            PointsEarnedV1: on_points_earned,
            PointsRedeemedV1: on_points_redeemed,
            PointsRestoredV1: on_points_restored,
            PointsExpiredV1: on_points_expired,
        },
    ),
]
