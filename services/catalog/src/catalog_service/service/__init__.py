"""Catalog use cases: the reads (reads.py, cached for the storefront), the writes
(writes.py, one transaction each with its outbox rows), and the rows they share
(product_rows.py)."""
