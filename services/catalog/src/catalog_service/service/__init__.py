"""Catalog use cases."""

from catalog_service.service.reads import get_product, list_categories, list_products
from catalog_service.service.writes import change_status, create_product, update_product

__all__ = [
    "change_status",
    "create_product",
    "get_product",
    "list_categories",
    "list_products",
    "update_product",
]
