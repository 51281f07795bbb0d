"""Subscriptions: the catalog read model and the saga's answers. Each handler parses nothing
itself; the chassis hands it the payload inside its transaction."""

from __future__ import annotations

from chassis.consumer import EventConsumer
from order_service.service import orders, read_model
from shared_events import catalog, inventory, payment
from shared_events.topics import CATALOG_EVENTS, INVENTORY_EVENTS, PAYMENT_EVENTS

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
            inventory.StockReservedV1: orders.on_stock_reserved,
            inventory.StockRejectedV1: orders.on_stock_rejected,
            inventory.StockCommittedV1: orders.on_stock_settled,
            inventory.StockReleasedV1: orders.on_stock_settled,
        },
    ),
    EventConsumer(
        "order-saga-payment",
        PAYMENT_EVENTS,
        {
            payment.PaymentAuthorizedV1: orders.on_payment_authorized,
            payment.PaymentFailedV1: orders.on_payment_failed,
            payment.PaymentCapturedV1: orders.on_payment_settled,
            payment.PaymentVoidedV1: orders.on_payment_settled,
            payment.PaymentRefundedV1: orders.on_payment_settled,
        },
    ),
]
