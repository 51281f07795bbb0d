"""Outbound I/O other than the database: the payment provider (providers.py)."""
