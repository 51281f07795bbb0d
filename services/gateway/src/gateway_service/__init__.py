"""The storefront API gateway: one door for clients in front of the services. It owns nothing
durable (Redis only: rate-limit counters, flash-sale allowances and unit counts), has no
database and consumes no events."""
