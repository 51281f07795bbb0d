"""The evolution rule, as code: inside a version a schema may only gain optional fields.

`breaking_changes(published, candidate)` lists every difference that is not such an addition.
"""

from __future__ import annotations

from typing import Any

# Documentation-only keywords: changing them changes no payload.
_IGNORED = frozenset({"title", "description", "examples", "$comment"})


def breaking_changes(old: dict[str, Any], new: dict[str, Any], path: str = "$") -> list[str]:
    problems: list[str] = []
    keys = (set(old) | set(new)) - _IGNORED - {"properties", "required", "$defs"}
    for key in sorted(keys):
        if key not in new:
            problems.append(f"{path}: keyword {key!r} removed")
        elif key not in old:
            problems.append(f"{path}: keyword {key!r} added")
        else:
            problems.extend(_compare(old[key], new[key], f"{path}.{key}"))

    old_props: dict[str, Any] = old.get("properties", {})
    new_props: dict[str, Any] = new.get("properties", {})
    old_required, new_required = set(old.get("required", [])), set(new.get("required", []))
    for name in sorted(old_props):
        if name not in new_props:
            problems.append(f"{path}.{name}: field removed or renamed")
        else:
            problems.extend(breaking_changes(old_props[name], new_props[name], f"{path}.{name}"))
    for name in sorted(set(new_props) - set(old_props)):
        if name in new_required:
            problems.append(
                f"{path}.{name}: new field is required (only optional fields may be added)"
            )
    for name in sorted(old_required - new_required):
        if name in new_props:
            problems.append(f"{path}.{name}: required field became optional")
    for name in sorted((new_required - old_required) & set(old_props)):
        problems.append(f"{path}.{name}: optional field became required")

    old_defs: dict[str, Any] = old.get("$defs", {})
    new_defs: dict[str, Any] = new.get("$defs", {})
    for name in sorted(old_defs):
        if name not in new_defs:
            problems.append(f"{path}.$defs.{name}: definition removed")
        else:
            problems.extend(breaking_changes(old_defs[name], new_defs[name], f"$defs.{name}"))
    return problems


def _compare(old: Any, new: Any, path: str) -> list[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        return breaking_changes(old, new, path)
    if isinstance(old, list) and isinstance(new, list):
        if len(old) != len(new):
            return [f"{path}: changed from {old!r} to {new!r}"]
        return [
            p
            for i, (a, b) in enumerate(zip(old, new, strict=True))
            for p in _compare(a, b, f"{path}[{i}]")
        ]
    return [] if old == new else [f"{path}: changed from {old!r} to {new!r}"]
