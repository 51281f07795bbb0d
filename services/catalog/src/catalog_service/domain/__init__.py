"""Catalog rules as plain Python: the product lifecycle (products.py) and prices (prices.py)."""
