"""Write the JSON Schema of every registered event under `schemas/<type>/v<N>.json`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from shared_events.compat import breaking_changes
from shared_events.registry import EventRegistry, EventSpec, registry

SCHEMA_DIR = Path(__file__).resolve().parents[2] / "schemas"


def json_schema(spec: EventSpec) -> dict[str, Any]:
    schema = spec.model.model_json_schema(mode="validation")
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": spec.dataschema,
        "x-event-type": spec.type,
        "x-event-version": spec.version,
        "x-topic": spec.topic,
        **schema,
    }


def render(spec: EventSpec) -> str:
    return json.dumps(json_schema(spec), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def schema_path(spec: EventSpec, root: Path = SCHEMA_DIR) -> Path:
    return root / spec.type / f"v{spec.version}.json"


def incompatible(reg: EventRegistry = registry, root: Path = SCHEMA_DIR) -> dict[str, list[str]]:
    """Breaking changes of the code against the committed schemas, per file."""
    found = {}
    for spec in reg:
        path = schema_path(spec, root)
        if path.exists():
            problems = breaking_changes(json.loads(path.read_text()), json_schema(spec))
            if problems:
                found[str(path.relative_to(root))] = problems
    return found


def write_all(reg: EventRegistry = registry, root: Path = SCHEMA_DIR) -> list[Path]:
    written = []
    for spec in reg:
        path = schema_path(spec, root)
        text = render(spec)
        if not path.exists() or path.read_text() != text:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(text)
            written.append(path)
    return written


def main() -> None:
    import shared_events  # noqa: F401  (registers every event)

    problems = incompatible()
    if problems:
        for name, found in problems.items():
            print(f"{name}: breaking change inside a published version:", file=sys.stderr)
            for line in found:
                print(f"  - {line}", file=sys.stderr)
        print("Publish a new version (v<N+1>) with an upcaster instead.", file=sys.stderr)
        raise SystemExit(1)
    written = write_all()
    for path in written:
        print(f"wrote {path.relative_to(SCHEMA_DIR.parent)}", file=sys.stderr)
    total = sum(1 for _ in registry)
    print(
        f"{total} schemas up to date under {SCHEMA_DIR} ({len(written)} written)", file=sys.stderr
    )


if __name__ == "__main__":
    main()
