"""Event handlers: the catalog and membership read models, the saga's answers and the lots
orders hold (trace codes, re-allocations, withdrawals, recalls). Each handler
gets its payload parsed, inside the transaction the chassis opened for it, and calls one use
case. `CONSUMERS` at the bottom says who handles what."""

from __future__ import annotations

from chassis.consumer import Delivery, EventConsumer
from order_service.deps import OrderRuntime
from order_service.domain.saga import (
    Reason,
    Trigger,
    benefits_failure_reason,
    payment_failure_reason,
)
from order_service.service import lots, read_model, saga
from shared_events.catalog import (
    PriceChangedV1,
    ProductCreatedV1,
    ProductPublishedV1,
    ProductUnpublishedV1,
    ProductUpdatedV1,
)
from shared_events.inventory import (
    RecallCustomerAffectedV1,
    StockCommittedV2,
    StockReallocatedV1,
    StockRejectedV1,
    StockReleasedV1,
    StockReservedV1,
    StockWithdrawnV1,
)
from shared_events.membership import (
    BenefitsHeldV1,
    BenefitsRejectedV1,
    CouponIssuedV1,
    CouponRedeemedV1,
    CouponRestoredV1,
    PointsRedeemedV1,
    PointsRestoredV1,
    TierChangedV1,
)
from shared_events.payment import (
    PaymentAuthorizedV1,
    PaymentCapturedV1,
    PaymentFailedV1,
    PaymentRefundedV1,
    PaymentVoidedV1,
)
from shared_events.topics import (
    CATALOG_EVENTS,
    INVENTORY_EVENTS,
    MEMBERSHIP_EVENTS,
    PAYMENT_EVENTS,
)

# Read models


async def on_product_changed(
    delivery: Delivery[OrderRuntime], event: ProductCreatedV1 | ProductUpdatedV1
) -> None:
    await read_model.upsert_product(delivery.session, event)


async def on_product_published(
    delivery: Delivery[OrderRuntime], event: ProductPublishedV1 | ProductUnpublishedV1
) -> None:
    await read_model.set_published(delivery.session, event)


async def on_price_changed(delivery: Delivery[OrderRuntime], event: PriceChangedV1) -> None:
    await read_model.change_price(delivery.session, event)


async def on_tier_changed(delivery: Delivery[OrderRuntime], event: TierChangedV1) -> None:
    await read_model.set_tier(delivery.session, event)


async def on_coupon_issued(delivery: Delivery[OrderRuntime], event: CouponIssuedV1) -> None:
    await read_model.add_coupon(delivery.session, event)


# The saga's answers


async def on_stock_reserved(delivery: Delivery[OrderRuntime], event: StockReservedV1) -> None:
    await saga.advance(delivery, event.order_id, Trigger.STOCK_RESERVED)


async def on_stock_rejected(delivery: Delivery[OrderRuntime], event: StockRejectedV1) -> None:
    await saga.advance(delivery, event.order_id, Trigger.STOCK_REJECTED, Reason.OUT_OF_STOCK)


async def on_benefits_held(delivery: Delivery[OrderRuntime], event: BenefitsHeldV1) -> None:
    await saga.advance(delivery, event.order_id, Trigger.BENEFITS_HELD)


async def on_benefits_rejected(delivery: Delivery[OrderRuntime], event: BenefitsRejectedV1) -> None:
    reason = benefits_failure_reason(event.reason)
    await saga.advance(delivery, event.order_id, Trigger.BENEFITS_REJECTED, reason)


async def on_payment_authorized(
    delivery: Delivery[OrderRuntime], event: PaymentAuthorizedV1
) -> None:
    await saga.advance(delivery, event.order_id, Trigger.PAYMENT_AUTHORIZED)


async def on_payment_failed(delivery: Delivery[OrderRuntime], event: PaymentFailedV1) -> None:
    reason = payment_failure_reason(event.reason)
    await saga.advance(delivery, event.order_id, Trigger.PAYMENT_FAILED, reason)


async def on_settled(
    delivery: Delivery[OrderRuntime],
    event: StockReleasedV1
    | PaymentCapturedV1
    | PaymentVoidedV1
    | PaymentRefundedV1
    | PointsRedeemedV1
    | PointsRestoredV1
    | CouponRedeemedV1
    | CouponRestoredV1,
) -> None:
    await saga.extend_timeline(delivery, event.order_id)


# Lots


async def on_stock_committed(delivery: Delivery[OrderRuntime], event: StockCommittedV2) -> None:
    await lots.record_commit(delivery, event)


async def on_stock_reallocated(delivery: Delivery[OrderRuntime], event: StockReallocatedV1) -> None:
    await lots.reallocate(delivery, event)


async def on_stock_withdrawn(delivery: Delivery[OrderRuntime], event: StockWithdrawnV1) -> None:
    # Inventory already released the reservation (its `stock.released` with the same reason
    # only joins the timeline); the cancellation compensates payment and membership.
    reason = Reason(event.reason)
    await saga.advance(delivery, event.order_id, Trigger.STOCK_WITHDRAWN, reason)


async def on_recall_customer_affected(
    delivery: Delivery[OrderRuntime], event: RecallCustomerAffectedV1
) -> None:
    await lots.mark_recalled(delivery, event)


CONSUMERS = [
    EventConsumer(
        "order-catalog",
        CATALOG_EVENTS,
        {
            ProductCreatedV1: on_product_changed,
            ProductUpdatedV1: on_product_changed,
            ProductPublishedV1: on_product_published,
            ProductUnpublishedV1: on_product_published,
            PriceChangedV1: on_price_changed,
        },
    ),
    EventConsumer(
        "order-saga-inventory",
        INVENTORY_EVENTS,
        {
            StockReservedV1: on_stock_reserved,
            StockRejectedV1: on_stock_rejected,
            # Written for v2: a v1 record reaches it upcast, naming no lots.
            StockCommittedV2: on_stock_committed,
            StockReleasedV1: on_settled,
            StockReallocatedV1: on_stock_reallocated,
            StockWithdrawnV1: on_stock_withdrawn,
            RecallCustomerAffectedV1: on_recall_customer_affected,
        },
    ),
    EventConsumer(
        "order-saga-payment",
        PAYMENT_EVENTS,
        {
            PaymentAuthorizedV1: on_payment_authorized,
            PaymentFailedV1: on_payment_failed,
            PaymentCapturedV1: on_settled,
            PaymentVoidedV1: on_settled,
            PaymentRefundedV1: on_settled,
        },
    ),
    EventConsumer(
        "order-membership",
        MEMBERSHIP_EVENTS,
        {
            TierChangedV1: on_tier_changed,
            CouponIssuedV1: on_coupon_issued,
            BenefitsHeldV1: on_benefits_held,
            BenefitsRejectedV1: on_benefits_rejected,
            PointsRedeemedV1: on_settled,
            PointsRestoredV1: on_settled,
            CouponRedeemedV1: on_settled,
            CouponRestoredV1: on_settled,
        },
    ),
]
