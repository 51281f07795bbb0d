"""The payment service: payment intents, their ledger, refunds and exchange rates, driven by
order events; it publishes payment.events."""
