"""The evolution rule itself: only optional additions pass inside a version."""

from __future__ import annotations

import copy
from typing import Any

from shared_events.compat import breaking_changes

PUBLISHED: dict[str, Any] = {
    "type": "object",
    "properties": {
        "order_id": {"type": "string"},
        "total": {"$ref": "#/$defs/Money"},
        "note": {"type": "string", "default": ""},
    },
    "required": ["order_id", "total"],
    "$defs": {
        "Money": {
            "type": "object",
            "properties": {"amount": {"type": "integer"}, "currency": {"type": "string"}},
            "required": ["amount", "currency"],
        }
    },
}


def changed(edit: Any) -> list[str]:
    candidate = copy.deepcopy(PUBLISHED)
    edit(candidate)
    return breaking_changes(PUBLISHED, candidate)


def test_identical_schema_is_compatible() -> None:
    assert breaking_changes(PUBLISHED, copy.deepcopy(PUBLISHED)) == []


def test_adding_an_optional_field_is_compatible() -> None:
    assert changed(lambda s: s["properties"].update(coupon={"type": "string"})) == []


def test_adding_an_optional_nested_field_is_compatible() -> None:
    assert (
        changed(lambda s: s["$defs"]["Money"]["properties"].update(scale={"type": "integer"})) == []
    )


def test_description_changes_are_compatible() -> None:
    assert changed(lambda s: s.update(description="docs only")) == []


def test_removing_a_field_breaks() -> None:
    assert changed(lambda s: s["properties"].pop("note"))


def test_renaming_a_field_breaks() -> None:
    def rename(s: dict[str, Any]) -> None:
        s["properties"]["order"] = s["properties"].pop("order_id")
        s["required"] = ["order", "total"]

    assert changed(rename)


def test_changing_a_type_breaks() -> None:
    assert changed(lambda s: s["properties"]["order_id"].update(type="integer"))


def test_changing_a_nested_type_breaks() -> None:
    assert changed(lambda s: s["$defs"]["Money"]["properties"]["amount"].update(type="number"))


def test_making_a_field_required_breaks() -> None:
    assert changed(lambda s: s["required"].append("note"))


def test_adding_a_required_field_breaks() -> None:
    def add_required(s: dict[str, Any]) -> None:
        s["properties"]["coupon"] = {"type": "string"}
        s["required"].append("coupon")

    assert changed(add_required)


def test_making_a_required_field_optional_breaks() -> None:
    assert changed(lambda s: s["required"].remove("total"))
