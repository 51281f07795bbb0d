"""Food attributes without I/O: the closed lists, the value checks the request model calls, the
category rule, and the setting that names the food categories."""

from __future__ import annotations

from typing import Any, get_args

import pytest
from pydantic import ValidationError

from catalog_service.config import CatalogSettings
from catalog_service.domain import food
from catalog_service.schemas import FoodIn
from chassis.rules import RuleError
from shared_events.inventory import StorageClass


def test_closed_lists_are_stable_upper_case_codes() -> None:
    assert len(food.ALLERGENS) == 14 and {"GLUTEN", "PEANUTS", "MILK"} <= set(food.ALLERGENS)
    assert {"ORGANIC", "GREEN_FOOD", "GEOGRAPHICAL_INDICATION"} <= set(food.CERTIFICATIONS)
    for code in (*food.ALLERGENS, *food.CERTIFICATIONS):
        assert code == code.upper() and " " not in code
    # The storage classes are inventory's lot storage classes, not a second list.
    assert food.STORAGE_CLASSES == get_args(StorageClass) == ("AMBIENT", "CHILLED", "FROZEN")


@pytest.mark.parametrize("code", ["CN", "JP", "FR", "US", "TW", "HK"])
def test_assigned_country_codes_are_accepted(code: str) -> None:
    assert food.country_code(code) == code


@pytest.mark.parametrize("code", ["XX", "ZZ", "UK", "cn", "CHN", ""])
def test_unassigned_country_codes_are_refused(code: str) -> None:
    with pytest.raises(ValueError, match="ISO 3166-1 alpha-2"):
        food.country_code(code)


def test_distinct_refuses_a_repeated_code() -> None:
    assert food.distinct(["MILK", "EGGS"]) == ["MILK", "EGGS"]
    with pytest.raises(ValueError, match="'MILK' is listed twice"):
        food.distinct(["MILK", "EGGS", "MILK"])


@pytest.mark.parametrize(
    ("category", "has_food", "code"),
    [
        ("tea", False, "food-attributes-required"),
        ("kettles", True, "food-attributes-not-allowed"),
    ],
)
def test_the_category_decides_whether_food_attributes_belong(
    category: str, has_food: bool, code: str
) -> None:
    with pytest.raises(RuleError) as refused:
        food.check_food_fits_category(category, has_food=has_food, food_categories=["tea"])
    assert refused.value.code == code and refused.value.status == 422
    assert refused.value.detail.startswith("food:")


def test_matching_category_and_food_attributes_pass() -> None:
    food.check_food_fits_category("tea", has_food=True, food_categories=["tea"])
    food.check_food_fits_category("kettles", has_food=False, food_categories=["tea"])


def refused(document: dict[str, Any]) -> list[tuple[str | int, ...]]:
    with pytest.raises(ValidationError) as error:
        FoodIn.model_validate(document)
    return [tuple(e["loc"]) for e in error.value.errors()]


def test_the_request_model_names_each_refused_field() -> None:
    good = {"shelf_life_days": 30, "storage_class": "CHILLED"}
    assert FoodIn.model_validate(good).allergens == []
    assert refused({**good, "allergens": ["MILK", "MILK"]}) == [("allergens",)]
    assert refused({**good, "allergens": ["NUTS"]}) == [("allergens", 0)]
    assert refused({**good, "origin": {"country": "XX", "producer": "P"}}) == [
        ("origin", "country")
    ]
    assert refused({"storage_class": "AMBIENT"}) == [("shelf_life_days",)]


def test_food_categories_default_to_the_demo_food_and_follow_the_setting(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert {"tea", "snacks", "fruit", "food"} <= set(CatalogSettings().food_categories)
    monkeypatch.setenv("CATALOG_FOOD_CATEGORIES", '["honey", "rice"]')
    assert CatalogSettings().food_categories == ["honey", "rice"]
