"""Subscriptions: the catalog read model and the saga's answers. Each handler parses nothing
itself; the chassis hands it the payload inside its transaction."""

from __future__ import annotations

from chassis.consumer import EventConsumer
from order_service.service import read_model, saga
from shared_events import catalog, inventory, membership, payment
from shared_events.topics import (
    CATALOG_EVENTS,
    INVENTORY_EVENTS,
    MEMBERSHIP_EVENTS,
    PAYMENT_EVENTS,
)

CONSUMERS = [
    EventConsumer(
        "order-catalog",
        CATALOG_EVENTS,
        {
            catalog.ProductCreatedV1: read_model.upsert_product,
            catalog.ProductUpdatedV1: read_model.upsert_product,
            catalog.ProductPublishedV1: read_model.set_published,
            catalog.ProductUnpublishedV1: read_model.set_published,
            catalog.PriceChangedV1: read_model.change_price,
        },
    ),
    EventConsumer(
        "order-saga-inventory",
        INVENTORY_EVENTS,
        {
            inventory.StockReservedV1: saga.on_stock_reserved,
            inventory.StockRejectedV1: saga.on_stock_rejected,
            inventory.StockCommittedV1: saga.on_settled,
            inventory.StockReleasedV1: saga.on_settled,
        },
    ),
    EventConsumer(
        "order-saga-payment",
        PAYMENT_EVENTS,
        {
            payment.PaymentAuthorizedV1: saga.on_payment_authorized,
            payment.PaymentFailedV1: saga.on_payment_failed,
            payment.PaymentCapturedV1: saga.on_settled,
            payment.PaymentVoidedV1: saga.on_settled,
            payment.PaymentRefundedV1: saga.on_settled,
        },
    ),
    EventConsumer(
        "order-membership",
        MEMBERSHIP_EVENTS,
        {
            membership.TierChangedV1: read_model.set_tier,
            membership.CouponIssuedV1: read_model.add_coupon,
            membership.BenefitsHeldV1: saga.on_benefits_held,
            membership.BenefitsRejectedV1: saga.on_benefits_rejected,
            membership.PointsRedeemedV1: saga.on_settled,
            membership.PointsRestoredV1: saga.on_settled,
            membership.CouponRedeemedV1: saga.on_settled,
            membership.CouponRestoredV1: saga.on_settled,
        },
    ),
]
