"""The catalog service: products, SKUs, categories and list prices; it publishes
catalog.events and consumes nothing."""
