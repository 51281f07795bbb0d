from __future__ import annotations

from typing import Any

import pytest

from gateway_service.service.availability import fill, is_product_read, products_of, skus_of


def product(*skus: str) -> dict[str, Any]:
    return {"id": "p", "skus": [{"sku": s, "available": None} for s in skus]}


@pytest.mark.parametrize(
    ("method", "path", "expected"),
    [
        ("GET", "/api/v1/products", True),
        ("GET", "/api/v1/products/abc", True),
        ("POST", "/api/v1/products", False),
        ("GET", "/api/v1/products/abc/reviews", False),
        ("GET", "/api/v1/admin/products", False),
    ],
)
def test_only_storefront_product_reads_are_joined(method: str, path: str, expected: bool) -> None:
    assert is_product_read(method, path) is expected


def test_a_page_and_a_single_product_are_both_filled() -> None:
    page = {"items": [product("A", "B"), product("C")], "total": 2}
    single = product("D")
    assert skus_of(products_of(page)) == ["A", "B", "C"]
    assert skus_of(products_of(single)) == ["D"]
    fill(products_of(page), {"A": 3, "C": 0})
    assert [s["available"] for p in page["items"] for s in p["skus"]] == [3, None, 0]


def test_other_documents_have_no_products() -> None:
    assert products_of({"type": "about:blank", "status": 404}) == []
    assert products_of([1, 2]) == []
