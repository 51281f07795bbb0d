"""The catalog service: products, SKUs, categories and list prices; it publishes
catalog.events (and its product views on catalog.views) and consumes nothing."""
