"""Payment use cases: the order-driven payment steps (payments.py) on the rows of
intent_rows.py, and the API reads (reads.py)."""
