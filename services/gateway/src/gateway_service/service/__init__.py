"""The gateway's request handling: routing, path checks, rate limits, flash sales, product
availability and the merged OpenAPI document."""
