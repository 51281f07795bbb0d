"""Catalog rules as plain Python: the product lifecycle (products.py), prices (prices.py) and
food attributes (food.py)."""
