"""Every text a service accepts has a documented rule, so no new field can let NUL or control
characters reach a database unnoticed: the fuzzing (test_openapi_fuzz.py) samples inputs, this
reads every service's OpenAPI whole. No servers needed: the documents come from the apps."""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import Any

import pytest

from chassis.validation import TEXT_PATTERN

SERVICES = (
    "catalog",
    "order",
    "inventory",
    "payment",
    "membership",
    "notification",
    "analytics",
)
# A string is ruled when its values are listed or matched: a pattern (chassis.validation's
# Text, Identifier, SkuCode, or a stricter one), an enum or const, or a format (uri).
RULES = {"pattern", "enum", "const", "format"}
# Header values cannot carry NUL or other controls (the HTTP parser refuses them) and the
# Idempotency-Key is only hashed, never stored as sent.
UNRULED_HEADERS = {"Idempotency-Key"}

Schema = dict[str, Any]


def _strings(
    schema: Any, components: dict[str, Schema], where: str
) -> Iterator[tuple[str, Schema]]:
    """(where, schema) of every string schema inside `schema`, following $refs."""
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        yield from _strings(components[schema["$ref"].rsplit("/", 1)[1]], components, where)
        return
    for key in ("anyOf", "oneOf", "allOf"):
        for branch in schema.get(key, []):
            yield from _strings(branch, components, where)
    if schema.get("type") == "string":
        yield where, schema
    for name, sub in schema.get("properties", {}).items():
        yield from _strings(sub, components, f"{where}.{name}")
    for sub in schema.get("patternProperties", {}).values():
        yield from _strings(sub, components, f"{where}.*")
    yield from _strings(schema.get("additionalProperties"), components, f"{where}.*")
    yield from _strings(schema.get("items"), components, f"{where}[]")


def _inputs(document: Schema) -> Iterator[tuple[str, Schema]]:
    components = document.get("components", {}).get("schemas", {})
    for path, item in document["paths"].items():
        for method, operation in item.items():
            label = f"{method.upper()} {path}"
            for parameter in operation.get("parameters", []):
                if parameter["in"] == "header" and parameter["name"] in UNRULED_HEADERS:
                    continue
                where = f"{label} {parameter['in']} {parameter['name']}"
                yield from _strings(parameter.get("schema"), components, where)
            for content in operation.get("requestBody", {}).get("content", {}).values():
                yield from _strings(content.get("schema"), components, f"{label} body")


@pytest.mark.parametrize("service", SERVICES)
def test_every_text_input_has_a_rule(service: str) -> None:
    document = importlib.import_module(f"{service}_service.main").create_app().openapi()
    inputs = list(_inputs(document))
    assert inputs, "no text inputs found: the walk is broken"
    unruled = [where for where, schema in inputs if not RULES & set(schema)]
    assert not unruled, f"text without a rule (use chassis.validation): {unruled}"


def test_free_text_fields_use_the_shared_rule() -> None:
    # Names, addresses and reasons are not matched by some looser local pattern.
    document = importlib.import_module("order_service.main").create_app().openapi()
    address = document["components"]["schemas"]["ShippingAddress"]["properties"]
    assert address["line1"]["pattern"] == TEXT_PATTERN
