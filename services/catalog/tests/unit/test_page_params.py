"""CATALOG_MAX_PAGE_SIZE lowers the largest page the product lists answer."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.exceptions import RequestValidationError

from catalog_service.api import PageParams
from catalog_service.config import PAGE_SIZE_LIMIT, CatalogSettings


def runtime_with(max_page_size: int) -> Any:
    return SimpleNamespace(settings=CatalogSettings(max_page_size=max_page_size))


def test_a_size_within_the_setting_is_kept() -> None:
    params = PageParams(runtime_with(10), page=2, size=10)
    assert (params.page, params.size) == (2, 10)


def test_a_size_over_the_setting_is_refused_like_a_size_over_the_limit() -> None:
    with pytest.raises(RequestValidationError) as caught:
        PageParams(runtime_with(10), page=1, size=11)
    [error] = caught.value.errors()
    assert error == {
        "loc": ("query", "size"),
        "msg": "Input should be less than or equal to 10",
        "type": "less_than_equal",
    }


def test_the_setting_cannot_raise_the_documented_limit() -> None:
    with pytest.raises(ValueError):
        CatalogSettings(max_page_size=PAGE_SIZE_LIMIT + 1)
